"""The in-process bus of the embedded mode: RabbitMQ's routing semantics without a broker.

Topic exchanges route by the same ``*``/``#`` patterns; a queue's consumers compete (one delivery per
queue, so one per consumer group); a message that asks for a retry is redelivered until the queue's delivery
limit and then dead-lettered with its reason, which :attr:`MemoryBus.dead_letters` keeps for inspection.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from flowtape.common.bus.base import Bus, BusMetrics, Consumer, Handlers, RawHandler, dispatch, outgoing, reply_data
from flowtape.common.errors import TimedOut
from flowtape.common.messages.base import Message, Reply, RoutedMessage, decode
from flowtape.common.topology import DEAD_LETTERS, QueueSpec, route_of

log = logging.getLogger("flowtape.bus")


@lru_cache(maxsize=4096)
def topic_matches(binding: str, routing_key: str) -> bool:
    """RabbitMQ topic matching: ``*`` is exactly one word, ``#`` is zero or more."""
    return _match(tuple(binding.split(".")), tuple(routing_key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


@dataclass
class _Delivery:
    body: bytes
    reply_to: str | None = None
    correlation_id: str | None = None
    attempts: int = 0
    headers: dict[str, Any] = field(default_factory=dict)
    exchange: str = ""
    routing_key: str = ""


@dataclass
class DeadLetter:
    queue: str
    reason: str
    body: bytes


@dataclass
class _Queue:
    spec: QueueSpec
    pending: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)
    handlers: list[tuple[Handlers, int]] = field(default_factory=list)
    raw_handlers: list[tuple[RawHandler, int]] = field(default_factory=list)
    #: bindings added at run time (``Bus.bind``), as (exchange, pattern)
    extra: set[tuple[str, str]] = field(default_factory=set)


class _Workers(Consumer):
    """The workers of one :meth:`MemoryBus.consume`. In process there is one engine, owning every partition
    until it stops, so stopping just ends the workers (what they held is lost with the process anyway)."""

    def __init__(self, workers: list[asyncio.Task[None]]) -> None:
        self._workers = workers

    async def stop(self, timeout: float = 10.0) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)


class MemoryBus(Bus):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._metrics = BusMetrics(registry)
        self._queues: dict[str, _Queue] = {}
        self._bindings: dict[str, list[_Queue]] = defaultdict(list)
        self._replies: dict[str, asyncio.Future[Reply]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self.dead_letters: list[DeadLetter] = []
        self._started = False

    def subscribe(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> None:
        state = self._declare(queue)
        state.handlers.append((handlers, prefetch))
        if self._started:
            self._spawn(state, handlers, prefetch)

    async def declare(self, queue: QueueSpec) -> None:
        self._declare(queue)

    async def consume(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> Consumer:
        state = self._declare(queue)
        workers = [asyncio.create_task(self._consume(state, handlers)) for _ in range(prefetch)]
        self._workers.extend(workers)
        return _Workers(workers)

    def subscribe_raw(self, queue: QueueSpec, handler: RawHandler, *, prefetch: int = 16) -> None:
        state = self._declare(queue)
        state.raw_handlers.append((handler, prefetch))
        if self._started:
            self._spawn_raw(state, handler, prefetch)

    def _spawn_raw(self, state: _Queue, handler: RawHandler, prefetch: int) -> None:
        for _ in range(prefetch):
            self._workers.append(asyncio.create_task(self._consume_raw(state, handler)))

    async def _consume_raw(self, state: _Queue, handler: RawHandler) -> None:
        while True:
            delivery = await state.pending.get()
            try:
                await handler(delivery.body, delivery.headers)
            except Exception:
                log.exception("raw consumer of %s failed; requeueing", state.spec.name)
                await asyncio.sleep(1.0)
                state.pending.put_nowait(delivery)

    def _declare(self, spec: QueueSpec) -> _Queue:
        if spec.name not in self._queues:
            state = _Queue(spec)
            self._queues[spec.name] = state
            self._bindings[spec.exchange].append(state)
            if not spec.broadcast:
                self._metrics.queue_messages.labels(spec.name).set_function(state.pending.qsize)
                self._metrics.queue_consumers.labels(spec.name).set_function(
                    lambda: sum(prefetch for _, prefetch in state.handlers + state.raw_handlers)
                )
        return self._queues[spec.name]

    def _spawn(self, state: _Queue, handlers: Handlers, prefetch: int) -> None:
        for _ in range(prefetch):
            self._workers.append(asyncio.create_task(self._consume(state, handlers)))

    async def start(self) -> None:
        self._started = True
        for state in self._queues.values():
            for handlers, prefetch in state.handlers:
                self._spawn(state, handlers, prefetch)
            for raw, prefetch in state.raw_handlers:
                self._spawn_raw(state, raw, prefetch)

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._started = False

    async def ping(self) -> bool:
        return self._started

    def _route(self, exchange: str, routing_key: str, delivery: _Delivery) -> None:
        for state in self._queues.values():
            if self._bound(state, exchange, routing_key):
                state.pending.put_nowait(
                    _Delivery(
                        delivery.body,
                        delivery.reply_to,
                        delivery.correlation_id,
                        headers=dict(delivery.headers),
                        exchange=exchange,
                        routing_key=routing_key,
                    )
                )

    @staticmethod
    def _bound(state: _Queue, exchange: str, routing_key: str) -> bool:
        if state.spec.exchange == exchange and topic_matches(state.spec.binding, routing_key):
            return True
        return any(bound == exchange and topic_matches(pattern, routing_key) for bound, pattern in state.extra)

    async def bind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        self._declare(queue).extra.add((exchange, pattern))

    async def unbind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        self._declare(queue).extra.discard((exchange, pattern))

    async def publish(self, message: Message) -> None:
        route = route_of(message)
        self._metrics.published.labels(message.type_name).inc()
        with outgoing(message) as headers:
            self._route(route.exchange, route.routing_key, _Delivery(message.encode(), headers=headers))

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish bytes as they are: how tests send a poison message."""
        self._route(exchange, routing_key, _Delivery(body))

    async def publish_to_queue(self, queue: str, body: bytes) -> None:
        state = self._queues.get(queue)
        if state is None:
            raise LookupError(f"no queue named {queue!r}")
        state.pending.put_nowait(_Delivery(body))

    async def request(self, message: Message, *, timeout: float = 10.0, into: type[BaseModel] | None = None) -> Reply:
        route = route_of(message)
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = future
        try:
            with outgoing(message, "request") as headers:
                delivery = _Delivery(message.encode(), "direct", correlation_id, headers=headers)
                self._route(route.exchange, route.routing_key, delivery)
                reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimedOut(f"no reply to {message.type_name} within {timeout:g} s") from None
        finally:
            self._replies.pop(correlation_id, None)
        if isinstance(reply.data, BaseModel) and not (into is not None and isinstance(reply.data, into)):
            # as if it had crossed the wire: JSON-shaped data, unless the requester reads it as this very model
            reply = reply.model_copy(update={"data": reply_data(reply.data)})
        return reply

    async def _consume(self, state: _Queue, handlers: Handlers) -> None:
        while True:
            delivery = await state.pending.get()
            delivery.attempts += 1
            is_request = delivery.reply_to is not None
            body = delivery.body
            if state.spec.routed:
                body = RoutedMessage(
                    exchange=delivery.exchange, routing_key=delivery.routing_key, payload=body.decode(errors="replace")
                ).encode()
            outcome = await dispatch(body, handlers, state.spec.name, is_request=is_request, headers=delivery.headers)
            self._metrics.handled.labels(state.spec.name, outcome.action).inc()
            if outcome.reply is not None and delivery.correlation_id is not None:
                future = self._replies.get(delivery.correlation_id)
                if future is not None and not future.done():
                    future.set_result(outcome.reply)
            if outcome.action == "dead_letter":
                self._dead_letter(state, delivery, outcome.reason)
            elif outcome.action == "retry":
                if delivery.attempts >= state.spec.delivery_limit:
                    self._dead_letter(state, delivery, f"delivery_limit: {outcome.reason}")
                else:
                    await asyncio.sleep(min(0.05 * 2**delivery.attempts, 2.0))
                    state.pending.put_nowait(delivery)

    def _dead_letter(self, state: _Queue, delivery: _Delivery, reason: str) -> None:
        log.warning("dead-lettered a message from %s: %s", state.spec.name, reason)
        self.dead_letters.append(DeadLetter(state.spec.name, reason, delivery.body))
        headers = {"x-flowtape-reason": reason[:1000], "x-flowtape-queue": state.spec.name}
        self._route(DEAD_LETTERS, state.spec.name, _Delivery(delivery.body, headers=headers))


__all__ = ["DeadLetter", "MemoryBus", "decode", "topic_matches"]
