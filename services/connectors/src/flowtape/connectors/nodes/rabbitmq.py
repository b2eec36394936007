"""The ``rabbitmq_publish`` node: publish items to an exchange of the user's own AMQP broker, with publisher
confirms, on one connection per credential.

This is the user's broker (an ``amqp`` credential), never Flowtape's own: the platform's exchanges are for its
services, and a workflow reaches them only through ``message_trigger``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import aio_pika.exceptions
import aiormq.exceptions
from pydantic import Field

from flowtape.common.credentials import AmqpCredential
from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.outbound import connect_address
from flowtape.connectors.pools import CONNECT_TIMEOUT, connect_failed
from flowtape.connectors.tls import client_context


class RabbitmqPublishParams(NodeParams):
    credential: str = Field(min_length=1, description="an amqp credential's id or name")
    exchange: str = Field(default="", max_length=255, description="an existing exchange ('' is the default exchange)")
    routing_key: str = Field(default="", max_length=255)
    message: Any = Field(default=None, description="the body: text as is, anything else as JSON; the item if not given")
    content_type: str | None = Field(default=None, description="default: application/json, or text/plain for text")
    headers: dict[str, str] = Field(default_factory=dict)
    persistent: bool = Field(default=True, description="ask the broker to keep the message on disk")
    mandatory: bool = Field(default=True, description="fail when no queue is bound for the routing key")


async def amqp_connection(connections: Connections, data: AmqpCredential) -> aio_pika.abc.AbstractConnection:
    host = await connect_address(connections.egress, data.host, data.port, verified_tls=data.tls == "verify")
    try:
        return await aio_pika.connect(
            host=host,
            port=data.port,
            login=data.username,
            password=data.password.get_secret_value(),
            virtualhost=data.virtual_host,
            ssl=data.tls != "disable",
            ssl_context=client_context(data.tls),
            timeout=CONNECT_TIMEOUT,
            client_properties={"connection_name": "flowtape rabbitmq_publish"},
        )
    except Exception as exc:
        raise connect_failed("the AMQP broker", data.host, data.port, exc) from None


class RabbitmqPublishNode(NodeType[RabbitmqPublishParams]):
    """Outputs per item ``{"exchange", "routing_key", "published": true}`` once the broker confirmed it."""

    type = "rabbitmq_publish"
    category = "queue"
    description = "Publish each item (or a message built from it) to an exchange of your own RabbitMQ / AMQP broker."
    Params = RabbitmqPublishParams
    examples = (
        NodeExample(
            title="Publish order events to a topic exchange (credential 'shop-broker'; exchange 'orders' routes "
            "'order.*' to a queue)",
            params={
                "credential": "shop-broker",
                "exchange": "orders",
                "routing_key": "order.{{ item.event }}",
                "headers": {"source": "flowtape"},
            },
            input=[{"event": "created", "order_id": 1002, "total": 45.5}],
            output={"main": [{"exchange": "orders", "routing_key": "order.created", "published": True}]},
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._open: dict[str, tuple[str, aio_pika.abc.AbstractConnection]] = {}
        self._lock = asyncio.Lock()
        connections.on_close(self._close)

    async def _close(self) -> None:
        for _, connection in self._open.values():
            await connection.close()

    async def _connection(self, credential: Credential) -> aio_pika.abc.AbstractConnection:
        data = credential.data
        assert isinstance(data, AmqpCredential)
        fingerprint = json.dumps(data.reveal(), sort_keys=True)
        async with self._lock:
            known = self._open.get(credential.id)
            if known is not None and known[0] == fingerprint and not known[1].is_closed:
                return known[1]
            connection = await amqp_connection(self._connections, data)
            self._open[credential.id] = (fingerprint, connection)
        if known is not None:
            await known[1].close()
        return connection

    async def run_item(self, ctx: NodeContext, params: RabbitmqPublishParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "amqp")
        connection = await self._connection(credential)
        body = item if params.message is None else params.message
        text = isinstance(body, str)
        message = aio_pika.Message(
            body=body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode(),
            content_type=params.content_type or ("text/plain" if text else "application/json"),
            headers=dict(params.headers),
            message_id=f"{ctx.idempotency_key}:{ctx.node_id}",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            if params.persistent
            else aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        target = f"exchange {params.exchange or '(default)'!r} with routing key {params.routing_key!r}"
        try:
            async with connection.channel(publisher_confirms=True, on_return_raises=params.mandatory) as channel:
                exchange = (
                    channel.default_exchange
                    if not params.exchange
                    else await channel.get_exchange(params.exchange, ensure=True)
                )
                await exchange.publish(message, routing_key=params.routing_key, mandatory=params.mandatory)
        except aio_pika.exceptions.DeliveryError as exc:
            raise NodeError(f"the broker could not route the message to {target}: no queue is bound ({exc})") from None
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise NodeError(
                f"the exchange {params.exchange!r} does not exist on the broker: declare it first"
            ) from None
        except (aiormq.exceptions.AMQPError, ConnectionError) as exc:
            raise NodeError(f"publishing to {target} failed: {type(exc).__name__}: {exc}") from None
        return NodeResult.on([{"exchange": params.exchange, "routing_key": params.routing_key, "published": True}])
