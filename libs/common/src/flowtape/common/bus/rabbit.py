"""The RabbitMQ adapter, on FastStream, with every acknowledgement made explicitly.

Durable queues are quorum queues with a delivery limit and a dead-letter exchange. A message dead-lettered
by us (contract broken, no handler, unrecoverable error) is republished to ``flowtape.dead-letters`` with
the reason in the ``x-flowtape-reason`` header and then acked, so the reason travels with it; a message that
keeps failing transiently is nacked and redelivered, and on its ``QueueSpec.delivery_limit``-th delivery
dead-lettered the same way (reason ``delivery_limit: ...``); the queue's ``x-delivery-limit`` is the backstop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aiormq.exceptions import AMQPError, ChannelInvalidStateError, ChannelPreconditionFailed
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel, ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from flowtape.common.bus.base import Bus, BusMetrics, Consumer, Handlers, RawHandler, dispatch, outgoing
from flowtape.common.errors import BusUnavailable, TimedOut, Unavailable
from flowtape.common.messages.base import Message, Reply, RoutedMessage, decode, decode_reply
from flowtape.common.topology import COMMANDS, DEAD_LETTER_QUEUE, DEAD_LETTERS, EVENTS, QueueSpec, route_of

log = logging.getLogger("flowtape.bus")

#: how often the depth and consumers of the queues a process consumes are asked of the broker
QUEUE_POLL_SECONDS = 5.0

EXCHANGES = {
    name: RabbitExchange(name, type=ExchangeType.TOPIC, durable=True) for name in (COMMANDS, EVENTS, DEAD_LETTERS)
}


def rabbit_queue(spec: QueueSpec) -> RabbitQueue:
    if spec.broadcast:
        return RabbitQueue(spec.name, exclusive=True, auto_delete=True, routing_key=spec.binding)
    arguments: dict[str, Any] = {}
    if spec.name != DEAD_LETTERS:
        arguments["x-dead-letter-exchange"] = DEAD_LETTERS
        arguments["x-dead-letter-routing-key"] = spec.name
    if not spec.quorum:
        return RabbitQueue(spec.name, durable=True, routing_key=spec.binding, arguments=arguments)  # type: ignore[call-overload, no-any-return]
    if spec.name != DEAD_LETTERS:
        # the dead-letter queue has nowhere further to send a message: it keeps everything until re-driven
        arguments["x-delivery-limit"] = spec.delivery_limit
    return RabbitQueue(  # type: ignore[call-overload, no-any-return]
        spec.name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=spec.binding,
        arguments=arguments,
    )


@contextmanager
def _broker_reachable(what: str) -> Iterator[None]:
    """The one place the broker's own failures become :class:`BusUnavailable`: while RabbitMQ restarts, or the
    connection is being re-established, aio-pika raises its channel and connection errors (a closed robust
    channel is a ``RuntimeError``), and callers must see "the bus is down", not an unclassified error."""
    try:
        yield
    except TimeoutError:  # an OSError since Python 3.11, but a peer's silence, not the broker's
        raise
    except (AMQPError, ChannelInvalidStateError, ConnectionError, OSError) as exc:
        raise BusUnavailable(f"RabbitMQ did not take {what}: {type(exc).__name__}: {exc}") from exc


class _ChannelConsumer(Consumer):
    """A consumer started by :meth:`RabbitBus.consume`: stopping it cancels it, lets the deliveries in hand
    finish, and closes its channel."""

    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._in_hand: set[asyncio.Task[None]] = set()
        self.tag: str | None = None
        self.queue: AbstractQueue | None = None

    async def run(self, delivery: Awaitable[None]) -> None:
        task = asyncio.ensure_future(delivery)
        self._in_hand.add(task)
        try:
            await task
        finally:
            self._in_hand.discard(task)

    async def stop(self, timeout: float = 10.0) -> None:
        if self.queue is not None and self.tag is not None and not self._channel.is_closed:
            await self.queue.cancel(self.tag)
        if self._in_hand:
            await asyncio.wait(list(self._in_hand), timeout=timeout)
        if not self._channel.is_closed:
            await self._channel.close()


async def _undecoded(message: StreamMessage[Any]) -> bytes:
    """FastStream's own decoder parses a body labelled JSON before any handler runs, and a body that is not JSON
    then never reaches us: no reason recorded, no dead letter. Our handlers read the raw body and decode it
    themselves (:func:`flowtape.common.bus.base.dispatch`), so the body is handed over untouched."""
    return message.body


class RabbitBus(Bus):
    def __init__(self, url: str, *, service: str, registry: CollectorRegistry | None = None) -> None:
        # FastStream's Prometheus middleware labels replies by their unique reply-to queue (one new series per
        # request, unbounded): the bus counts by queue and message type itself instead.
        self._metrics = BusMetrics(registry)
        self._broker = RabbitBroker(
            url,
            app_id=f"flowtape-{service}",
            graceful_timeout=10.0,
            logger=None,
        )
        self._service = service
        self._url = url
        #: the connection of :meth:`consume` consumers (partitions an engine replica owns for a while)
        self._consumers: AbstractRobustConnection | None = None
        # Our own request/reply: FastStream's ``request`` holds a process-wide lock for each round trip (one
        # request in flight per process). One private reply queue per process and a map of waiting calls
        # let every request fly at once.
        self._replies = f"replies.{service}.{uuid.uuid4().hex[:12]}"
        #: the durable queues this process consumes or declared: their depth and consumers are polled
        self._observed: set[str] = {DEAD_LETTER_QUEUE.name}
        self._polling: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[bytes]] = {}

    def _current(self) -> RabbitMessage:
        """The message being handled. Read from the broker's context rather than injected as a parameter:
        FastStream resolves injected context in a worker thread, a thread hop for every message."""
        message: RabbitMessage = self._broker.context.get_local("message")
        return message

    async def _consume_replies(self) -> None:
        """Replies are consumed with aio-pika directly, on the consumers' connection (its robust channel declares
        the queue again after a reconnect): a reply needs none of FastStream's per-message machinery (context,
        dependency injection, middlewares), which was ~6 % of the gateway's CPU per request."""
        channel = await (await self._consumer_connection()).channel()
        await channel.set_qos(prefetch_count=512)
        queue = await channel.declare_queue(self._replies, exclusive=True, auto_delete=True)
        await queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def _consumer_connection(self) -> AbstractRobustConnection:
        if self._consumers is None:
            self._consumers = await aio_pika.connect_robust(self._url, client_properties={"app_id": self._service})
        return self._consumers

    @property
    def broker(self) -> RabbitBroker:
        return self._broker

    def _observe(self, queue: QueueSpec) -> None:
        if not queue.broadcast:  # an exclusive queue is another connection's: not ours to poll
            self._observed.add(queue.name)

    def subscribe(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> None:
        self._observe(queue)

        async def on_message() -> None:
            message = self._current()
            await self._deliver(queue, handlers, message.raw_message, message.ack, message.nack)

        subscriber = self._broker.subscriber(
            rabbit_queue(queue),
            EXCHANGES[queue.exchange],
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            channel=Channel(prefetch_count=prefetch),
            decoder=_undecoded,
        )
        subscriber(on_message)

    async def _deliver(
        self,
        queue: QueueSpec,
        handlers: Handlers,
        raw: AbstractIncomingMessage,
        ack: Callable[[], Awaitable[None]],
        nack: Callable[..., Awaitable[None]],
    ) -> None:
        """Handle one delivery and settle it: reply, then ack, dead-letter with the reason, or requeue."""
        name = queue.name
        body = raw.body
        if queue.routed:
            body = RoutedMessage(
                exchange=raw.exchange or "",
                routing_key=raw.routing_key or "",
                payload=body.decode(errors="replace"),
                content_type=raw.content_type,
                source_message_id=raw.message_id,
            ).encode()
        outcome = await dispatch(body, handlers, name, is_request=bool(raw.reply_to), headers=raw.headers)
        self._metrics.handled.labels(name, outcome.action).inc()
        if outcome.reply is not None and raw.reply_to:
            await self._broker.publish(
                outcome.reply.encode(),
                routing_key=raw.reply_to,
                correlation_id=raw.correlation_id,
                content_type="application/json",
            )
        if outcome.action == "ack":
            await ack()
        elif outcome.action == "dead_letter":
            await self._dead_letter(name, raw.body, outcome.reason)
            await ack()
        else:
            deliveries = int(str((raw.headers or {}).get("x-delivery-count") or 0)) + 1
            if (queue.broadcast or not queue.quorum) and raw.redelivered:
                await self._dead_letter(name, raw.body, f"retry failed: {outcome.reason}")
                await ack()
                return
            if deliveries >= queue.delivery_limit:
                # RabbitMQ itself would allow one more delivery (it counts returns, not deliveries): its
                # limit stays a backstop, and this way the reason travels with the dead letter.
                await self._dead_letter(name, raw.body, f"delivery_limit: {outcome.reason}")
                await ack()
                return
            log.warning("retrying a message on %s (%d/%d): %s", name, deliveries, queue.delivery_limit, outcome.reason)
            await asyncio.sleep(min(0.1 * 2**deliveries, 2.0))
            await nack(requeue=True)

    async def declare(self, queue: QueueSpec) -> None:
        self._observe(queue)
        declared = await self._broker.declare_queue(rabbit_queue(queue))
        await declared.bind(queue.exchange, routing_key=queue.binding)

    async def consume(self, queue: QueueSpec, handlers: Handlers, *, prefetch: int = 32) -> Consumer:
        """Consume ``queue`` on a channel of its own until the returned consumer is stopped; closing that
        channel hands every message it had not settled back to the queue, for the next consumer."""
        self._observe(queue)
        channel = await (await self._consumer_connection()).channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await channel.declare_queue(queue.name, passive=True)
        consumer = _ChannelConsumer(channel)

        async def on_message(raw: AbstractIncomingMessage) -> None:
            await consumer.run(self._deliver(queue, handlers, raw, raw.ack, raw.nack))

        consumer.tag = await declared.consume(on_message)
        consumer.queue = declared
        return consumer

    def subscribe_raw(self, queue: QueueSpec, handler: RawHandler, *, prefetch: int = 16) -> None:
        self._observe(queue)
        name = queue.name

        async def on_message() -> None:
            message = self._current()
            try:
                await handler(message.body, dict(message.raw_message.headers or {}))
            except Exception:
                log.exception("raw consumer of %s failed; requeueing", name)
                await asyncio.sleep(1.0)
                await message.nack(requeue=True)
                return
            await message.ack()

        subscriber = self._broker.subscriber(
            rabbit_queue(queue),
            EXCHANGES[queue.exchange],
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            channel=Channel(prefetch_count=prefetch),
            decoder=_undecoded,
        )
        subscriber(on_message)

    async def bind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        declared = await self._broker.declare_queue(rabbit_queue(queue))
        await declared.bind(exchange, routing_key=pattern)

    async def unbind(self, queue: QueueSpec, exchange: str, pattern: str) -> None:
        declared = await self._broker.declare_queue(rabbit_queue(queue))
        await declared.unbind(exchange, routing_key=pattern)

    async def _dead_letter(self, queue: str, body: bytes, reason: str) -> None:
        log.warning("dead-lettered a message from %s: %s", queue, reason)
        await self._broker.publish(
            body,
            exchange=EXCHANGES[DEAD_LETTERS],
            routing_key=queue,
            headers={"x-flowtape-reason": reason[:1000], "x-flowtape-queue": queue},
            persist=True,
            content_type="application/json",
        )

    async def start(self) -> None:
        try:
            await self._broker.connect()
            for exchange in EXCHANGES.values():
                await self._broker.declare_exchange(exchange)
            dead_letters = await self._broker.declare_queue(rabbit_queue(DEAD_LETTER_QUEUE))
            await dead_letters.bind(DEAD_LETTERS, routing_key="#")
            await self._broker.start()
            await self._consume_replies()
            self._polling = asyncio.create_task(self._poll_queues(), name="bus-queue-metrics")
        except (ConnectionError, OSError) as exc:
            raise Unavailable(f"cannot reach RabbitMQ: {exc}; is it running and is FLOWTAPE_AMQP_URL right?") from exc
        except ChannelPreconditionFailed as exc:
            raise Unavailable(
                f"RabbitMQ refused a queue declaration ({exc}): a queue of that name exists with other arguments, "
                "left by another version of Flowtape or another application in this virtual host. Delete that "
                "queue once it is drained (rabbitmqctl delete_queue <name>), or give Flowtape its own vhost."
            ) from exc

    async def _poll_queues(self) -> None:
        """Keep ``flowtape_queue_messages`` / ``flowtape_queue_consumers`` current (a passive declare per queue
        on a connection of its own, every :data:`QUEUE_POLL_SECONDS`)."""
        connection: AbstractRobustConnection | None = None
        try:
            while True:
                try:
                    if connection is None:
                        connection = await aio_pika.connect_robust(
                            self._url, client_properties={"app_id": f"{self._service}-metrics"}
                        )
                    channel = await connection.channel()
                    for name in sorted(self._observed):
                        if channel.is_closed:
                            channel = await connection.channel()
                        try:
                            declared = await channel.declare_queue(name, passive=True)
                        except Exception:  # not declared (yet): the channel closed, the next queue opens another
                            continue
                        result = declared.declaration_result
                        self._metrics.queue_messages.labels(name).set(result.message_count or 0)
                        self._metrics.queue_consumers.labels(name).set(result.consumer_count or 0)
                    if not channel.is_closed:
                        await channel.close()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("could not poll queue depths: %s", exc)
                await asyncio.sleep(QUEUE_POLL_SECONDS)
        finally:
            if connection is not None:
                await connection.close()

    async def stop(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        if self._consumers is not None:
            await self._consumers.close()
            self._consumers = None
        await self._broker.stop()

    async def ping(self) -> bool:
        try:
            return await self._broker.ping(timeout=2.0)
        except Exception:
            return False

    async def publish(self, message: Message) -> None:
        route = route_of(message)
        self._metrics.published.labels(message.type_name).inc()
        with outgoing(message) as headers, _broker_reachable(message.type_name):
            await self._broker.publish(
                message.encode(),
                exchange=EXCHANGES[route.exchange],
                routing_key=route.routing_key,
                persist=True,
                content_type="application/json",
                message_type=message.type_name,
                message_id=message.message_id,
                headers=headers or None,
            )

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish bytes as they are: how tests send a poison message."""
        with _broker_reachable(f"a message for {exchange}"):
            await self._broker.publish(body, exchange=EXCHANGES[exchange], routing_key=routing_key, persist=True)

    async def publish_to_queue(self, queue: str, body: bytes) -> None:
        with _broker_reachable(f"a message for {queue}"):
            await self._broker.publish(body, queue=queue, persist=True, content_type="application/json")

    async def request(self, message: Message, *, timeout: float = 10.0, into: type[BaseModel] | None = None) -> Reply:
        route = route_of(message)
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        try:
            with outgoing(message, "request") as headers, _broker_reachable(message.type_name):
                await self._broker.publish(
                    message.encode(),
                    exchange=EXCHANGES[route.exchange],
                    routing_key=route.routing_key,
                    reply_to=self._replies,
                    correlation_id=correlation_id,
                    content_type="application/json",
                    message_type=message.type_name,
                    headers=headers or None,
                )
                body = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimedOut(f"no reply to {message.type_name} within {timeout:g} s") from None
        finally:
            self._waiting.pop(correlation_id, None)
        reply = decode_reply(body, into) if into is not None else decode(body)
        if not isinstance(reply, Reply):
            raise Unavailable(f"unexpected answer {reply.type_name} to {message.type_name}")
        return reply
