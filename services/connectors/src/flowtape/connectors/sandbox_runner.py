"""The child side of :mod:`flowtape.connectors.sandbox`: runs one piece of user code and reports once.

This file is passed to ``python -I -S -B -c``: it must import nothing outside the standard library.
Protocol: the parent writes ``{"code", "items", "context", "memory_bytes", "cpu_seconds", "max_processes",
"max_file_bytes"}`` as JSON on stdin; the runner moves the original stdout to a private descriptor and
points descriptor 1 at stderr, so whatever the user's code prints (even with ``os.write(1, ...)``) lands in
the logs, and the one JSON outcome written to the private descriptor cannot be corrupted by it.

Every run pays for the runner's imports, so it imports only what each run needs, and the C halves of
``json`` and ``signal`` rather than their Python modules (which import ``re`` and ``enum``): ``inspect``,
``typing``, ``traceback``, ``linecache``, ``json`` and ``signal`` together cost more than the interpreter's
own start. The rest is imported when it is used.
"""

from __future__ import annotations

import builtins
import io
import os
import resource
import sys
import types

try:
    import _signal as signals
except ImportError:  # not CPython: the public module does the same, at the cost of importing enum
    import signal as signals  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FILENAME = "<code>"
MESSAGE_CHARS = 500


def main() -> None:
    pid = os.getpid()
    os.environ.pop("PWD", None)  # bwrap's --chdir sets it; the code's environment is only what the parent set
    result_fd = os.dup(1)
    os.dup2(2, 1)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    payload = _loads(sys.stdin.buffer.read().decode())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _limit_resources(
        payload["memory_bytes"], payload["cpu_seconds"], payload["max_processes"], payload["max_file_bytes"]
    )
    try:
        outcome = _run(payload["code"], payload["items"], payload["context"])
        data = _encoded(outcome)
    except MemoryError:
        data = b'{"ok": false, "kind": "memory"}'
    if os.getpid() != pid:
        os._exit(0)  # a process the code forked: only the original reports
    with os.fdopen(result_fd, "wb") as out:
        out.write(data)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter shutdown: the user's atexit hooks and finalizers must not delay or alter the outcome.
    os._exit(0)


def _encoded(outcome: dict[str, Any]) -> bytes:
    try:
        return _dumps(outcome).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        reason = f"run() returned items that are not JSON-serializable: {exc}"
        return _dumps(_invalid(reason)).encode()


try:
    from _json import encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # not CPython: the json module does the same, at the cost of importing re
    import json

    def _loads(text: str) -> Any:
        return json.loads(text)

    def _dumps(value: object) -> str:
        return json.dumps(value, allow_nan=False)

else:

    class _Decoding:
        """What the JSON scanner reads from a decoder: plain JSON, as ``json.loads`` parses it."""

        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
        memo: dict[str, str] = {}

    def _loads(text: str) -> Any:
        """``json.loads`` for the parent's payload (one JSON object, no leading whitespace)."""
        value, _ = make_scanner(_Decoding())(text, 0)
        return value

    def _not_json(value: object) -> object:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    def _dumps(value: object) -> str:
        """``json.dumps(value, allow_nan=False)``."""
        encoder = make_encoder({}, _not_json, encode_basestring_ascii, None, ": ", ", ", False, False, False)
        return "".join(encoder(value, 0))


def _limit_resources(memory_bytes: int, cpu_seconds: int, max_processes: int | None, max_file_bytes: int) -> None:
    # The memory budget is on top of what the interpreter and the parsed input items already use.
    _set_limit(resource.RLIMIT_AS, _address_space_in_use() + memory_bytes)
    _set_limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    _set_limit(resource.RLIMIT_NOFILE, 32)
    _set_limit(resource.RLIMIT_CORE, 0)
    # Files grow up to the limit (0: not at all): past it writes fail with EFBIG instead of SIGXFSZ killing.
    signals.signal(signals.SIGXFSZ, signals.SIG_IGN)
    _set_limit(resource.RLIMIT_FSIZE, max_file_bytes)
    if max_processes is not None and hasattr(resource, "RLIMIT_NPROC"):
        _set_limit(resource.RLIMIT_NPROC, max_processes)


def _set_limit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        resource.setrlimit(which, (soft, current_hard))


def _address_space_in_use() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 32 * 1024 * 1024


def _run(source: str, items: list[Any], context: dict[str, Any]) -> dict[str, Any]:
    try:
        code = compile(source, FILENAME, "exec")
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "message": exc.msg, "line": exc.lineno}
    namespace = {"__name__": "__flowtape_code__", "__builtins__": builtins}
    try:
        exec(code, namespace)
        run = namespace.get("run")
        if not callable(run):
            return {"ok": False, "kind": "no_run"}
        result = run(*_arguments(run, items, context))
        if hasattr(result, "__await__"):
            import asyncio

            result = asyncio.run(_awaited(result))
    except MemoryError:
        raise
    except BaseException as exc:
        return _failure(exc, source)
    return _checked(result)


def _arguments(run: object, items: list[Any], context: dict[str, Any]) -> tuple[Any, ...]:
    """``(items, context)`` when ``run`` takes two positional arguments, else ``(items,)``."""
    if isinstance(run, types.FunctionType):
        code = run.__code__
        takes_two = code.co_argcount >= 2 or bool(code.co_flags & 0x04)  # CO_VARARGS
        required_keywords = code.co_kwonlyargcount - len(run.__kwdefaults__ or {})
        return (items, context) if takes_two and not required_keywords else (items,)
    import inspect

    try:
        inspect.signature(run).bind(items, context)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (items,)
    return (items, context)


async def _awaited(awaitable: object) -> object:
    return await awaitable  # type: ignore[misc]


def _failure(exc: BaseException, source: str) -> dict[str, Any]:
    import linecache
    import traceback

    linecache.cache[FILENAME] = (len(source), None, source.splitlines(True), FILENAME)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == FILENAME]
    message = str(exc)
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "…"
    return {
        "ok": False,
        "kind": "exception",
        "type": type(exc).__name__,
        "message": message,
        "line": frames[-1].lineno if frames else None,
        "traceback": "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(frames))
        + "".join(traceback.format_exception_only(type(exc), exc)),
    }


def _checked(result: object) -> dict[str, Any]:
    if not isinstance(result, list):
        return _invalid(f"run() must return a list of items (dicts), but it returned {_kind(result)}")
    for index, item in enumerate(result):
        if not isinstance(item, dict):
            return _invalid(f"run() must return a list of dicts, but item {index} is {_kind(item)}")
    return {"ok": True, "items": result}


def _invalid(reason: str) -> dict[str, Any]:
    return {"ok": False, "kind": "invalid_result", "message": reason}


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


if __name__ == "__main__":
    main()
