"""The bus as the gateway's routes see it: peers' answers reach a client only in words meant for a client.

A peer's errors in a caller's terms (not found, conflict, an invalid workflow, a rate limit, a time-out it
judged) pass as they are. What describes the platform's insides does not: a message that broke its contract at
the peer (a version skew, a body its parser gave up on), an error the peer did not classify, and the bus's own
failures, which name message types and broker addresses. Those are logged here in full and answered as a plain
500, or a 503/504 that names only the service. The bus itself being down (RabbitMQ restarting) is one 503 on
every route, with a ``Retry-After``: :data:`BUS_DOWN`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from pydantic import BaseModel

from flowtape.common.bus import Bus
from flowtape.common.bus.base import Consumer, Handlers, RawHandler
from flowtape.common.errors import BusUnavailable, ErrorInfo, FlowtapeError, InvalidMessage, TimedOut, Unavailable
from flowtape.common.messages.base import Message, Reply
from flowtape.common.topology import QueueSpec

log = logging.getLogger("flowtape.gateway.peers")

T = TypeVar("T")

#: what a client is told while the gateway's connection to the broker is down, and when to try again
BUS_DOWN = "the platform's message bus is unavailable (it may be restarting); retry in a few seconds"
BUS_RETRY_AFTER_SECONDS = 5


def _bus_down(what: str, exc: BusUnavailable) -> Unavailable:
    log.warning("%s: %s", what, exc.message)
    return Unavailable(BUS_DOWN, details={"retry_after": BUS_RETRY_AFTER_SECONDS})


async def _over_the_bus(call: Awaitable[T], what: str) -> T:
    try:
        return await call
    except BusUnavailable as exc:
        raise _bus_down(what, exc) from None


def _client_codes() -> frozenset[str]:
    codes: set[str] = set()
    pending: list[type[FlowtapeError]] = [FlowtapeError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        codes.add(cls.code)
    return frozenset(codes - {FlowtapeError.code, InvalidMessage.code})


def _service(message: Message) -> str:
    return message.type_name.split(".", 1)[0] or "peer"


class PeerBus(Bus):
    """Delegates everything to ``bus``; the answers to requests are screened, and the broker's own failures on any
    call become :data:`BUS_DOWN`."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._client_codes = _client_codes()

    async def request(self, message: Message, *, timeout: float = 10.0, into: type[BaseModel] | None = None) -> Reply:
        service = _service(message)
        try:
            reply = await self._bus.request(message, timeout=timeout, into=into)
        except BusUnavailable as exc:
            raise _bus_down(message.type_name, exc) from None
        except TimedOut as exc:
            log.warning("%s: %s", message.type_name, exc.message)
            raise TimedOut(f"the {service} service did not answer within {timeout:g} s; try again") from None
        except Unavailable as exc:
            log.warning("%s: %s", message.type_name, exc.message)
            raise Unavailable(f"the {service} service cannot be reached now; try again") from None
        if reply.error is not None and reply.error.code not in self._client_codes:
            log.error("%s answered %s with %s: %s", service, message.type_name, reply.error.code, reply.error.message)
            internal = ErrorInfo(code=FlowtapeError.code, message=f"the {service} service failed to handle this")
            reply = reply.model_copy(update={"error": internal})
        return reply

    def subscribe(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> None:
        self._bus.subscribe(queue, handlers, prefetch=prefetch)

    def subscribe_raw(self, queue: QueueSpec, handler: RawHandler, *, prefetch: int = 16) -> None:
        self._bus.subscribe_raw(queue, handler, prefetch=prefetch)

    async def declare(self, queue: QueueSpec) -> None:
        await self._bus.declare(queue)

    async def consume(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> Consumer:
        return await self._bus.consume(queue, handlers, prefetch=prefetch)

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        await _over_the_bus(self._bus.publish_raw(exchange, routing_key, body), f"a message for {exchange}")

    async def publish_to_queue(self, queue: str, body: bytes) -> None:
        await _over_the_bus(self._bus.publish_to_queue(queue, body), f"a message for {queue}")

    async def publish(self, message: Message) -> None:
        await _over_the_bus(self._bus.publish(message), message.type_name)

    async def start(self) -> None:
        await self._bus.start()

    async def stop(self) -> None:
        await self._bus.stop()

    async def ping(self) -> bool:
        return await self._bus.ping()

    async def bind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        await self._bus.bind(queue, exchange, pattern)

    async def unbind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        await self._bus.unbind(queue, exchange, pattern)
