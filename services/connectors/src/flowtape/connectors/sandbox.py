"""Run user-supplied Python in a separate, resource-limited process and get its items back.

    SandboxError                 the code did not produce items; ``logs`` holds what it printed
    ├── TimeLimitExceeded        wall time (or CPU time) ran out; the process group was killed
    ├── MemoryLimitExceeded      an allocation failed under the address-space limit
    ├── UserCodeFailed           the code raised; carries the type, message, line and a trimmed traceback
    ├── InvalidCode              a syntax error, or no ``run`` function
    ├── InvalidResult            ``run`` returned something other than a list of JSON-object items
    └── SandboxCrashed           the process died without reporting (a signal, a broken interpreter)

The child is ``python -I -S -B`` (isolated, no site-packages: standard library only) in a fresh temporary
directory with an environment holding nothing but ``PATH``, and with rlimits on address space, CPU time,
open files, file size (0) and processes. That bounds runaway code; it is not a boundary against hostile
code, which can still read what the service's user can read and open sockets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowtape.common.nodes.sdk import Item

DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_LOG_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024


class SandboxError(Exception):
    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class TimeLimitExceeded(SandboxError):
    def __init__(self, seconds: float, logs: str = "") -> None:
        super().__init__(f"code exceeded its time limit of {seconds:g} s", logs)
        self.seconds = seconds


class MemoryLimitExceeded(SandboxError):
    def __init__(self, megabytes: int, logs: str = "") -> None:
        super().__init__(f"code exceeded its memory limit of {megabytes} MB", logs)
        self.megabytes = megabytes


class UserCodeFailed(SandboxError):
    def __init__(self, exc_type: str, exc_message: str, line: int | None, traceback: str, logs: str = "") -> None:
        where = f" (line {line})" if line is not None else ""
        text = f"{exc_type}: {exc_message}" if exc_message else exc_type
        super().__init__(f"code raised {text}{where}", logs)
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.line = line
        self.traceback = traceback


class InvalidCode(SandboxError):
    pass


class InvalidResult(SandboxError):
    pass


class SandboxCrashed(SandboxError):
    pass


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float
    memory_mb: int


@dataclass(frozen=True)
class SandboxRun:
    items: list[Item]
    #: what the code printed (stdout and stderr together), truncated
    logs: str


class PythonSandbox:
    """Spawns one child per run; ``max_concurrent`` bounds how many run at once in this worker."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        max_concurrent: int | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> None:
        self._python = python
        self._slots = asyncio.Semaphore(max_concurrent or os.cpu_count() or 2)
        self._max_output_bytes = max_output_bytes
        self._max_log_bytes = max_log_bytes

    async def run(
        self, code: str, items: list[Item], *, limits: SandboxLimits, context: dict[str, Any] | None = None
    ) -> SandboxRun:
        payload = json.dumps(
            {
                "code": code,
                "items": items,
                "context": context or {},
                "memory_bytes": limits.memory_mb * 1024 * 1024,
                "cpu_seconds": math.ceil(limits.timeout_seconds) + 1,
            }
        ).encode()
        async with self._slots:
            with tempfile.TemporaryDirectory(prefix="flowtape-code-") as workdir:
                return await self._run_in(workdir, payload, limits)

    async def _run_in(self, workdir: str, payload: bytes, limits: SandboxLimits) -> SandboxRun:
        output, logs = _CappedBuffer(self._max_output_bytes), _CappedBuffer(self._max_log_bytes)
        process = await asyncio.create_subprocess_exec(
            self._python,
            "-I",
            "-S",
            "-B",
            "-c",
            _runner_source(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=_child_environment(workdir),
            start_new_session=True,
        )
        assert process.stdin and process.stdout and process.stderr
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                await asyncio.gather(
                    _feed(process.stdin, payload),
                    _drain(process.stdout, output, kill_when_full=process.pid),
                    _drain(process.stderr, logs),
                )
                await process.wait()
        except TimeoutError:
            raise TimeLimitExceeded(limits.timeout_seconds, logs.text()) from None
        finally:
            # Also reaps anything the code started in its session.
            _kill_group(process.pid)
            if process.returncode is None:
                await process.wait()
        if output.truncated:
            raise InvalidResult(
                f"run() returned more than {self._max_output_bytes // (1024 * 1024)} MiB of items",
                logs.text(),
            )
        return _outcome(bytes(output.data), process.returncode, limits, logs.text())


class _CappedBuffer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        room = self.limit - len(self.data)
        self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True
        return not self.truncated

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        return text + "\n… (output truncated)" if self.truncated else text


async def _feed(stream: asyncio.StreamWriter, payload: bytes) -> None:
    try:
        stream.write(payload)
        await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child died early; its exit status tells why


async def _drain(stream: asyncio.StreamReader, buffer: _CappedBuffer, *, kill_when_full: int = 0) -> None:
    """Read to EOF keeping at most ``buffer.limit`` bytes; optionally kill the process group past it."""
    while chunk := await stream.read(_READ_CHUNK):
        if not buffer.add(chunk) and kill_when_full:
            _kill_group(kill_when_full)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _outcome(output: bytes, returncode: int | None, limits: SandboxLimits, logs: str) -> SandboxRun:
    try:
        outcome = json.loads(output) if output else None
    except ValueError:
        outcome = None
    if not isinstance(outcome, dict):
        raise _death(returncode, limits, logs)
    if outcome.get("ok"):
        return SandboxRun(items=outcome["items"], logs=logs)
    kind = outcome.get("kind")
    if kind == "memory":
        raise MemoryLimitExceeded(limits.memory_mb, logs)
    if kind == "exception":
        raise UserCodeFailed(
            outcome["type"], outcome["message"], outcome.get("line"), outcome.get("traceback", ""), logs
        )
    if kind == "syntax":
        line = outcome.get("line")
        where = f" (line {line})" if line is not None else ""
        raise InvalidCode(f"code has a syntax error: {outcome.get('message')}{where}", logs)
    if kind == "no_run":
        raise InvalidCode("code must define a function run(items) that returns the output items", logs)
    if kind == "invalid_result":
        raise InvalidResult(str(outcome.get("message")), logs)
    raise SandboxCrashed(f"the code runner reported an unknown outcome {kind!r}", logs)


def _death(returncode: int | None, limits: SandboxLimits, logs: str) -> SandboxError:
    if returncode == -signal.SIGXCPU:
        return TimeLimitExceeded(limits.timeout_seconds, logs)
    if "MemoryError" in logs or "Cannot allocate memory" in logs:
        return MemoryLimitExceeded(limits.memory_mb, logs)
    if returncode is not None and returncode < 0:
        how = f"was killed by {signal.Signals(-returncode).name}"
        if returncode == -signal.SIGKILL:
            how += " (possibly the system's out-of-memory killer)"
    else:
        how = f"exited with status {returncode}"
    tail = logs.strip()[-300:]
    return SandboxCrashed(
        f"the code process {how} without reporting a result" + (f"; it printed: {tail}" if tail else ""),
        logs,
    )


def _child_environment(workdir: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


@functools.cache
def _runner_source() -> str:
    return (Path(__file__).parent / "sandbox_runner.py").read_text(encoding="utf-8")
