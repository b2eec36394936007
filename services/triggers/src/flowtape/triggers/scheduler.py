"""The background loops of a triggers replica: reconcile with the engine once, then fire schedules on time.

The runner sleeps until the earliest next tick (or a registration change, or at most ``MAX_SLEEP``), then
asks :meth:`Triggers.fire_due`. Every replica runs it; fire keys make each tick start one execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import datetime

from flowtape.common.bus import Bus
from flowtape.common.messages.engine import ListActiveWorkflows
from flowtape.triggers.application import Clock, Triggers

log = logging.getLogger("flowtape.triggers")

MAX_SLEEP = 5.0
RELOAD_EVERY = 10.0
RELAY_EVERY = 15.0
RECONCILE_EVERY = 300.0


class ScheduleRunner:
    def __init__(self, triggers: Triggers, bus: Bus, clock: Clock) -> None:
        self._triggers = triggers
        self._bus = bus
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reconcile()), asyncio.create_task(self._tick())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task

    async def _reconcile(self) -> None:
        """Reconcile with the engine's active workflows on start (retrying until the engine answers: it may
        start after us), then every ``RECONCILE_EVERY`` seconds, so a change missed in any way heals."""
        delay = 0.5
        while True:
            since: datetime = self._clock()
            try:
                listed = await self._bus.ask(ListActiveWorkflows(), timeout=10)
                await self._triggers.reconcile(listed["items"], since)
                log.info("reconciled trigger registrations with %d active workflows", len(listed["items"]))
                delay = 0.5
                await asyncio.sleep(RECONCILE_EVERY)
            except Exception as exc:
                log.info("engine not answering ListActiveWorkflows yet (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _tick(self) -> None:
        last_reload = last_relay = time.monotonic()
        while True:
            try:
                if time.monotonic() - last_reload > RELOAD_EVERY:
                    await self._triggers.reload()
                    last_reload = time.monotonic()
                now = self._clock()
                await self._triggers.fire_due(now)
                if time.monotonic() - last_relay > RELAY_EVERY:
                    await self._triggers.relay(now)
                    last_relay = time.monotonic()
                wake = self._triggers.next_wakeup(self._clock())
                delay = MAX_SLEEP if wake is None else (wake - self._clock()).total_seconds() + 0.001
            except Exception:
                log.exception("the schedule runner failed; retrying")
                delay = 1.0
            self._triggers.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._triggers.changed.wait(), timeout=min(max(delay, 0.0), MAX_SLEEP))
