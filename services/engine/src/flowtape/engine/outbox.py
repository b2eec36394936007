"""Publishing what saved decisions imply, strictly after the save and until the broker takes it.

A decision is committed to the log first; its messages (node tasks, finish notices) then go through this
outbox, which retries with backoff while the broker is away instead of failing the decision. What a crash
loses from memory is rebuilt from the log: :meth:`Executions.recover` re-dispatches every in-flight task of
an unfinished execution, and finish notices are pending rows (written by the projection, in the same
transaction as the summary) until published. Consumers are idempotent, so a message sent twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from opentelemetry.context import Context

from flowtape.common import telemetry
from flowtape.common.bus import Bus
from flowtape.common.messages.base import Message
from flowtape.common.messages.engine import ExecutionFinished

log = logging.getLogger("flowtape.engine")

Published = Callable[[list[str]], Awaitable[None]]
#: how long published finish notices wait to have their pending rows cleared together
MARK_DELAY_SECONDS = 0.5


class Outbox:
    def __init__(self, bus: Bus, on_notices_published: Published) -> None:
        self._bus = bus
        self._on_notices_published = on_notices_published
        #: each message with the trace context it was put in: the relay publishes it in that context
        self._queue: asyncio.Queue[tuple[Message, Context]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._published: list[str] = []
        self._sending = 0
        self._marking: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="engine-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._marking is not None:
            await asyncio.gather(self._marking, return_exceptions=True)

    def put(self, messages: list[Message]) -> None:
        context = telemetry.capture()
        for message in messages:
            self._queue.put_nowait((message, context))
        if messages:
            self._idle.clear()

    def backlog(self) -> int:
        """Messages put and not yet published (what a broker outage piles up)."""
        return self._queue.qsize() + self._sending

    async def drained(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            self._sending = len(batch)
            try:
                await asyncio.gather(*(self._publish(message, context) for message, context in batch))
            finally:
                self._sending = 0
            self._published.extend(m.execution_id for m, _ in batch if isinstance(m, ExecutionFinished))
            if self._published and (self._marking is None or self._marking.done()):
                self._marking = asyncio.create_task(self._mark_published())
            if self._queue.empty():
                self._idle.set()

    async def _mark_published(self) -> None:
        """Clear the pending rows of published notices a moment later, many in one statement: a crash in
        between sends those notices once more, which their consumers take as the duplicates they are."""
        await asyncio.sleep(MARK_DELAY_SECONDS)
        notices, self._published = self._published, []
        try:
            await self._on_notices_published(notices)
        except Exception:
            log.exception("could not mark finish notices as published; they will be sent again")

    async def _publish(self, message: Message, context: Context) -> None:
        delay = 0.1
        while True:
            try:
                with telemetry.attached(context):
                    await self._bus.publish(message)
                return
            except Exception as exc:
                log.warning("publishing %s failed (%s); retrying in %.1f s", message.type_name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
