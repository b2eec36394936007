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

from flowtape.common.bus.base import Bus, Handlers, dispatch
from flowtape.common.errors import TimedOut
from flowtape.common.messages.base import Message, Reply, decode
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


class MemoryBus(Bus):
    def __init__(self) -> None:
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

    def _declare(self, spec: QueueSpec) -> _Queue:
        if spec.name not in self._queues:
            state = _Queue(spec)
            self._queues[spec.name] = state
            self._bindings[spec.exchange].append(state)
        return self._queues[spec.name]

    def _spawn(self, state: _Queue, handlers: Handlers, prefetch: int) -> None:
        for _ in range(prefetch):
            self._workers.append(asyncio.create_task(self._consume(state, handlers)))

    async def start(self) -> None:
        self._started = True
        for state in self._queues.values():
            for handlers, prefetch in state.handlers:
                self._spawn(state, handlers, prefetch)

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._started = False

    async def ping(self) -> bool:
        return self._started

    def _route(self, exchange: str, routing_key: str, delivery: _Delivery) -> None:
        for state in self._bindings.get(exchange, ()):
            if topic_matches(state.spec.binding, routing_key):
                state.pending.put_nowait(_Delivery(delivery.body, delivery.reply_to, delivery.correlation_id))

    async def publish(self, message: Message) -> None:
        route = route_of(message)
        self._route(route.exchange, route.routing_key, _Delivery(message.encode()))

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish bytes as they are: how tests send a poison message."""
        self._route(exchange, routing_key, _Delivery(body))

    async def request(self, message: Message, *, timeout: float = 10.0) -> Reply:
        route = route_of(message)
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = future
        try:
            self._route(route.exchange, route.routing_key, _Delivery(message.encode(), "direct", correlation_id))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimedOut(f"no reply to {message.type_name} within {timeout:g} s") from None
        finally:
            self._replies.pop(correlation_id, None)

    async def _consume(self, state: _Queue, handlers: Handlers) -> None:
        while True:
            delivery = await state.pending.get()
            delivery.attempts += 1
            is_request = delivery.reply_to is not None
            outcome = await dispatch(delivery.body, handlers, state.spec.name, is_request=is_request)
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
        self._route(DEAD_LETTERS, state.spec.name, delivery)


__all__ = ["DeadLetter", "MemoryBus", "decode", "topic_matches"]
