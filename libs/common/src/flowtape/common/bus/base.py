"""What every bus adapter guarantees, and the one place that decides a delivery's fate.

Outcomes, the same on RabbitMQ and in process:
- the handler returns: ack (and, for a request, reply with its return value);
- the message breaks its contract, or no handler takes its type, or the handler raises a
  :class:`~flowtape.common.errors.FlowtapeError` that retrying cannot fix: dead-letter with the reason
  (and answer a request with the error);
- anything else (a bug, a database or peer that is down): requeue, until the delivery limit moves the
  message to the dead-letter queue.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel

from flowtape.common import logs, telemetry
from flowtape.common.errors import FlowtapeError, InvalidMessage, Unavailable, database_unavailable, error_from_info
from flowtape.common.messages.base import Message, Reply, decode
from flowtape.common.topology import QueueSpec

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("flowtape.bus")

Handler = Callable[[Any], Awaitable[Any]]
Handlers = Mapping[type[Message], Handler]
#: consumes bytes as they are (the dead-letter queue holds messages that failed to decode)
RawHandler = Callable[[bytes, Mapping[str, Any]], Awaitable[None]]


class BusMetrics:
    """Messages handled per queue and outcome, and published per type: bounded label sets."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.handled = Counter(
            "flowtape_bus_handled_total",
            "Messages handled, by queue and outcome",
            ["queue", "outcome"],
            registry=registry,
        )
        self.published = Counter(
            "flowtape_bus_published_total", "Messages published, by message type", ["type"], registry=registry
        )
        self.queue_messages = Gauge(
            "flowtape_queue_messages",
            "Messages waiting in a queue this service consumes, as last polled",
            ["queue"],
            registry=registry,
        )
        self.queue_consumers = Gauge(
            "flowtape_queue_consumers",
            "Consumers of a queue this service consumes, as last polled",
            ["queue"],
            registry=registry,
        )


@dataclass(frozen=True)
class Outcome:
    action: str  # "ack" | "dead_letter" | "retry"
    reply: Reply | None = None
    reason: str = ""


def reply_data(value: Any) -> Any:
    """A handler's result as JSON-shaped data (what a reply that crossed the wire holds)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


@contextmanager
def outgoing(message: Message, operation: str = "publish") -> Iterator[dict[str, Any]]:
    """A producer span around sending ``message``; yields the headers that carry its context to the consumer."""
    with telemetry.tracer().start_as_current_span(
        f"{operation} {message.type_name}",
        kind=SpanKind.PRODUCER if operation == "publish" else SpanKind.CLIENT,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.message.id": message.message_id,
            "flowtape.message.type": message.type_name,
        },
    ):
        yield telemetry.inject()


async def dispatch(
    raw: bytes, handlers: Handlers, queue: str, *, is_request: bool, headers: Mapping[str, Any] | None = None
) -> Outcome:
    """Decode ``raw``, run the handler for its type and say what to do with the delivery.

    The handling is a consumer span, a child of the context the message's ``headers`` carry (the sender's)."""
    with telemetry.tracer().start_as_current_span(
        f"process {queue}",
        context=telemetry.extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
        },
    ) as span:
        outcome = await _dispatch(raw, handlers, queue, is_request=is_request, span=span)
        span.set_attribute("flowtape.outcome", outcome.action)
        if outcome.action != "ack":
            span.set_status(StatusCode.ERROR, outcome.reason[:200])
        return outcome


async def _dispatch(raw: bytes, handlers: Handlers, queue: str, *, is_request: bool, span: trace.Span) -> Outcome:
    try:
        message = decode(raw)
    except InvalidMessage as exc:
        return Outcome("dead_letter", Reply(error=exc.info()) if is_request else None, exc.message)
    logs.correlation_id.set(message.correlation_id or message.message_id)
    span.update_name(f"process {message.type_name}")
    span.set_attribute("flowtape.message.type", message.type_name)
    handler = handlers.get(type(message))
    if handler is None:
        error = InvalidMessage(f"no handler for {message.type_name} on queue {queue}")
        return Outcome("dead_letter", Reply(error=error.info()) if is_request else None, error.message)
    try:
        result = await handler(message)
    except Unavailable as exc:
        if is_request:
            return Outcome("ack", Reply(**message.caused(error=exc.info())))
        return Outcome("retry", reason=exc.message)
    except FlowtapeError as exc:
        reply = Reply(**message.caused(error=exc.info()))
        if is_request:
            return Outcome("ack", reply)
        return Outcome("dead_letter", None, f"{exc.code}: {exc.message}")
    except Exception as exc:
        if database_unavailable(exc):  # a moment's overload or outage: a 503 to try again, no dead letter
            log.warning("handler for %s could not reach its database: %s", message.type_name, exc)
            if is_request:
                busy = Unavailable("the service cannot reach its database right now; try again in a moment")
                return Outcome("ack", Reply(**message.caused(error=busy.info())))
            return Outcome("retry", reason=f"database unavailable: {type(exc).__name__}")
        log.exception("handler for %s failed", message.type_name)
        reason = f"{type(exc).__name__}: {exc}"
        if is_request:
            internal = FlowtapeError("the service failed to handle the request; see its log")
            return Outcome("dead_letter", Reply(**message.caused(error=internal.info())), reason)
        return Outcome("retry", reason=reason)
    if is_request:
        # a typed result stays a model until the reply is encoded: dumping it to dicts first cost the engine ~60 µs
        # per 20-node execution view
        return Outcome("ack", Reply(**message.caused(data=result)))
    return Outcome("ack")


class Consumer(ABC):
    """A consumer started at run time (:meth:`Bus.consume`)."""

    @abstractmethod
    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking deliveries, let those in hand finish (up to ``timeout``), return the rest to the queue."""


class Bus(ABC):
    """Publish, subscribe and request/reply between services."""

    @abstractmethod
    def subscribe(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> None:
        """Consume ``queue`` (declared on start) with one handler per message type."""

    @abstractmethod
    async def declare(self, queue: QueueSpec) -> None:
        """Make ``queue`` exist and receive its messages even while nobody consumes it (a bus that runs)."""

    @abstractmethod
    async def consume(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> Consumer:
        """Consume a declared ``queue`` from now until the returned :class:`Consumer` is stopped (a bus that
        runs): how an engine replica takes up, and later hands over, one partition of the executions."""

    @abstractmethod
    def subscribe_raw(self, queue: QueueSpec, handler: RawHandler, *, prefetch: int = 16) -> None:
        """Consume ``queue`` without decoding: ``handler(body, headers)``; a raise requeues the message."""

    @abstractmethod
    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish bytes as they are (re-driving dead letters; tests sending poison)."""

    @abstractmethod
    async def publish_to_queue(self, queue: str, body: bytes) -> None:
        """Put bytes straight into one queue (the default exchange): re-driving a dead letter reaches only
        the queue it died on, not every other subscriber of its routing key."""

    @abstractmethod
    async def publish(self, message: Message) -> None:
        """Route ``message`` by its type; returns once the broker has it (publisher confirms)."""

    @abstractmethod
    async def request(self, message: Message, *, timeout: float = 10.0, into: type[BaseModel] | None = None) -> Reply:
        """Send a query or command and wait for its :class:`Reply`; raises TimedOut / Unavailable.

        With ``into``, the reply's data is read as that model where it has its shape (one pass over the JSON,
        without dicts in between); anything else stays JSON-shaped data, as without it."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True while the broker is reachable (drives /readyz)."""

    @abstractmethod
    async def bind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        """Also route to ``queue`` what ``exchange`` gets on keys matching ``pattern`` (idempotent).

        For ``routed`` queues, whose bindings follow registrations made at run time (message triggers).
        """

    @abstractmethod
    async def unbind(self, queue: QueueSpec, exchange: str, pattern: str) -> None: ...

    @overload
    async def ask(self, message: Message, *, timeout: float = 10.0) -> Any: ...

    @overload
    async def ask(self, message: Message, *, timeout: float = 10.0, into: type[M]) -> M: ...

    async def ask(self, message: Message, *, timeout: float = 10.0, into: type[BaseModel] | None = None) -> Any:
        """``request`` and unwrap: returns the reply's data (as ``into`` when given) or raises the peer's error."""
        reply = await self.request(message, timeout=timeout, into=into)
        if reply.error is not None:
            raise error_from_info(reply.error)
        if into is None or isinstance(reply.data, into):
            return reply.data
        return into.model_validate(reply.data)  # what does not fit says why (a ValidationError)
