"""Timers for durable waits, retry backoffs and execution deadlines.

Only the *moment* is kept here; the moment itself is recorded in the log (``ExecutionPaused.resume_at``,
``NodeRetryScheduled.retry_at``, ``ExecutionStarted.deadline``), so a restarted engine re-arms every timer
from the logs of unfinished executions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

Clock = Callable[[], datetime]


class Timers:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._handles: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._running: set[asyncio.Task[Any]] = set()

    def arm(self, key: tuple[str, str], at: datetime, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``work`` at ``at`` unless a timer with this key is armed already."""
        if key in self._handles:
            return
        delay = max(0.0, (at - self._clock()).total_seconds())
        self._handles[key] = asyncio.get_running_loop().call_later(delay, self._fire, key, work)

    def _fire(self, key: tuple[str, str], work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._handles.pop(key, None)
        task = asyncio.create_task(work())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def cancel_all(self, execution_id: str) -> None:
        for key in [k for k in self._handles if k[0] == execution_id]:
            self._handles.pop(key).cancel()

    def stop(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
