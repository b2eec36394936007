"""Run user code in a separate, isolated and resource-limited process and get its items back.

    SandboxError                 the code did not produce items; ``logs`` holds what it printed
    ├── IsolationUnavailable     the isolation the operator chose cannot be set up here (says what to install)
    ├── InterpreterMissing       the language's interpreter is not installed (says what to install)
    ├── TimeLimitExceeded        wall time (or CPU time) ran out; the code and every process it started were killed
    ├── MemoryLimitExceeded      an allocation failed under the address-space limit
    ├── UserCodeFailed           the code raised; carries the type, message, line and a trimmed traceback
    ├── InvalidCode              a syntax error, or no ``run`` function
    ├── InvalidResult            ``run`` returned something other than a list of JSON-object items
    └── SandboxCrashed           the process died without reporting (a signal, a broken interpreter)

Where the code runs is the :mod:`isolation <flowtape.connectors.isolation>`'s business (Linux namespaces by
default); what runs is a :mod:`runtime <flowtape.connectors.runtimes>`'s runner, which reads the code and the
items as JSON on stdin, sets rlimits on itself (address space, CPU time, open files, file size, processes)
and writes one JSON outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowtape.common.nodes.sdk import Item
from flowtape.connectors.isolation import Isolation, Launch, NamespaceIsolation, kill, spawn, stop
from flowtape.connectors.runtimes import LanguageUnavailable, RunLimits, python_runtime, runtime_for

log = logging.getLogger("flowtape.connectors")

DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_LOG_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024


class SandboxError(Exception):
    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class IsolationUnavailable(SandboxError):
    pass


class InterpreterMissing(SandboxError):
    pass


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


class Sandbox:
    """Spawns one isolated child per run; ``max_concurrent`` bounds how many run at once in this worker."""

    def __init__(
        self,
        isolation: Isolation | None = None,
        *,
        max_concurrent: int | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> None:
        self.isolation = isolation or NamespaceIsolation()
        self._concurrency = max_concurrent or os.cpu_count() or 2
        self._slots = asyncio.Semaphore(self._concurrency)
        self._max_output_bytes = max_output_bytes
        self._max_log_bytes = max_log_bytes
        self._checked = False
        self._problem: str | None = None

    async def check(self) -> str | None:
        """Try the isolation once: None when code can run, else why not and what to do."""
        self._problem = await self.isolation.probe(python_runtime().probe)
        self._checked = True
        return self._problem

    async def run(
        self,
        code: str,
        items: list[Item],
        *,
        limits: SandboxLimits,
        context: dict[str, Any] | None = None,
        network: bool = False,
        language: str = "python",
    ) -> SandboxRun:
        """``network``: the code shares the host's network (namespaces mode); otherwise it has none."""
        if not self._checked or self._problem is not None:
            # still unusable: look again, an operator may have installed what was missing
            if await self.check() is not None:
                raise IsolationUnavailable(f"code nodes cannot run here: {self._problem}")
        try:
            runtime = runtime_for(language)
        except LanguageUnavailable as exc:
            raise InterpreterMissing(str(exc)) from None
        run_limits = RunLimits(
            memory_bytes=limits.memory_mb * 1024 * 1024,
            cpu_seconds=math.ceil(limits.timeout_seconds) + 1,
            max_processes=self._max_processes(runtime.threads),
            max_file_bytes=self.isolation.max_file_bytes,
        )
        payload = json.dumps(
            {
                "code": code,
                "items": items,
                "context": context or {},
                "memory_bytes": run_limits.memory_bytes,
                "cpu_seconds": run_limits.cpu_seconds,
                "max_processes": run_limits.max_processes,
                "max_file_bytes": run_limits.max_file_bytes,
            }
        ).encode()
        async with self._slots:
            with self.isolation.launch(runtime.program(run_limits), network=network) as launch:
                return await self._run_in(launch, payload, limits)

    def _max_processes(self, threads: int) -> int | None:
        per_run = self.isolation.max_processes
        if per_run == 0:
            return 0 if threads <= 1 else None  # an interpreter that needs threads cannot be kept from forking
        return per_run * self._concurrency if self.isolation.processes_counted_per_machine else per_run

    async def _run_in(self, launch: Launch, payload: bytes, limits: SandboxLimits) -> SandboxRun:
        output, logs = _CappedBuffer(self._max_output_bytes), _CappedBuffer(self._max_log_bytes)
        try:
            process = await spawn(launch)
        except OSError as exc:
            self._problem = f"{launch.argv[0]} cannot be started: {exc}"
            raise IsolationUnavailable(f"code nodes cannot run here: {self._problem}") from None
        assert process.stdin and process.stdout and process.stderr
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                await asyncio.gather(
                    _feed(process.stdin, payload),
                    _drain(process.stdout, output, when_full=lambda: kill(process, launch)),
                    _drain(process.stderr, logs),
                )
                await process.wait()
        except TimeoutError:
            raise TimeLimitExceeded(limits.timeout_seconds, logs.text()) from None
        finally:
            await stop(process, launch)
        if output.truncated:
            raise InvalidResult(
                f"run() returned more than {self._max_output_bytes // (1024 * 1024)} MiB of items",
                logs.text(),
            )
        returncode = process.returncode
        if launch.in_namespaces and returncode is not None and 128 < returncode < 128 + signal.NSIG:
            returncode = 128 - returncode
        return _outcome(bytes(output.data), returncode, limits, logs.text())


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


async def _drain(
    stream: asyncio.StreamReader, buffer: _CappedBuffer, *, when_full: Callable[[], None] | None = None
) -> None:
    """Read to EOF keeping at most ``buffer.limit`` bytes; ``when_full`` is called past it."""
    while chunk := await stream.read(_READ_CHUNK):
        if not buffer.add(chunk) and when_full is not None:
            when_full()


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
    if any(sign in logs for sign in ("MemoryError", "Cannot allocate memory", "JavaScript heap out of memory")):
        return MemoryLimitExceeded(limits.memory_mb, logs)
    if returncode is not None and returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
        if returncode == -signal.SIGKILL:
            how += " (possibly the system's out-of-memory killer)"
    else:
        how = f"exited with status {returncode}"
    tail = logs.strip()[-300:]
    return SandboxCrashed(
        f"the code process {how} without reporting a result" + (f"; it printed: {tail}" if tail else ""),
        logs,
    )
