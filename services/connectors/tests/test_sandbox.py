from __future__ import annotations

import asyncio
import contextlib

import psutil
import pytest

from flowtape.connectors.sandbox import InvalidResult, Sandbox, SandboxLimits, UserCodeFailed

LIMITS = SandboxLimits(timeout_seconds=10, memory_mb=128)


def sandbox_children() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "-I" in child.cmdline() and "-c" in child.cmdline()
    ]


async def test_cancelling_the_run_kills_the_process():
    sandbox = Sandbox()
    task = asyncio.create_task(sandbox.run("def run(items):\n    while True:\n        pass\n", [], limits=LIMITS))
    for _ in range(50):
        await asyncio.sleep(0.05)
        if sandbox_children():
            break
    assert sandbox_children()

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert sandbox_children() == []


async def test_logs_are_truncated():
    sandbox = Sandbox(max_log_bytes=1000)

    with pytest.raises(UserCodeFailed) as failure:
        await sandbox.run("def run(items):\n    print('x' * 5_000_000)\n    raise KeyError('k')\n", [], limits=LIMITS)

    assert failure.value.logs == "x" * 1000 + "\n… (output truncated)"
    assert str(failure.value) == "code raised KeyError: 'k' (line 3)"


async def test_oversized_output_is_refused():
    sandbox = Sandbox(max_output_bytes=1024 * 1024)

    with pytest.raises(InvalidResult, match="more than 1 MiB of items"):
        await sandbox.run("def run(items):\n    return [{'x': 'y' * 2_000_000}]\n", [], limits=LIMITS)
