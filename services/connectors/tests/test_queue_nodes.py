"""rabbitmq_publish against the machine's RabbitMQ (a private vhost) and mqtt_publish against Mosquitto."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import aiomqtt
import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import check_credential
from flowtape.connectors.nodes.mqtt import MqttPublishNode
from flowtape.connectors.nodes.rabbitmq import RabbitmqPublishNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, credential
from tests.infra import rabbitmq_vhost

MQTT = credential("broker", "mqtt", {"host": "127.0.0.1", "port": 1883})


@pytest.fixture(scope="module")
def vhost() -> Iterator[str]:
    with rabbitmq_vhost("flowtape-test-amqp") as url:
        yield url


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    connections = Connections(LOCAL_SERVERS)
    yield connections
    await connections.close()


def amqp_credential(vhost_url: str) -> Any:
    return credential(
        "amqp",
        "amqp",
        {"host": "127.0.0.1", "username": "guest", "password": "guest", "virtual_host": vhost_url.rsplit("/", 1)[1]},
    )


async def test_rabbitmq_publish_reaches_a_bound_queue_and_unroutable_fails(connections: Connections, vhost: str):
    amqp = amqp_credential(vhost)
    ctx = NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="pub", credentials=Credentials(amqp)
    )
    node = RabbitmqPublishNode(connections)
    connection = await aio_pika.connect(vhost)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("orders", aio_pika.ExchangeType.TOPIC)
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(exchange, "order.*")

        result = await execute_node(
            node,
            {"credential": "amqp", "exchange": "orders", "routing_key": "order.{{ item.kind }}"},
            ctx,
            [{"kind": "paid", "n": 1}, {"kind": "sent", "n": 2}],
        )
        received = [await queue.get(timeout=5) for _ in range(2)]

        assert [r["routing_key"] for r in result.ports["main"]] == ["order.paid", "order.sent"]
        assert [json.loads(m.body) for m in received] == [{"kind": "paid", "n": 1}, {"kind": "sent", "n": 2}]
        assert received[0].content_type == "application/json" and received[0].delivery_mode == 2
        with pytest.raises(NodeError, match="no queue is bound"):
            await execute_node(node, {"credential": "amqp", "exchange": "orders", "routing_key": "refund.x"}, ctx, [{}])
        with pytest.raises(NodeError, match="exchange 'missing' does not exist"):
            await execute_node(node, {"credential": "amqp", "exchange": "missing"}, ctx, [{}])
    assert (await check_credential(connections, amqp)).ok
    wrong = credential("amqp-bad", "amqp", {**amqp.reveal(), "password": "wrong-password"})
    checked = await check_credential(connections, wrong)
    assert not checked.ok and "wrong-password" not in checked.message


async def test_mqtt_publish_reaches_a_subscriber(connections: Connections) -> None:
    topic = f"flowtape-test/{uuid.uuid4().hex}"
    ctx = NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="pub", credentials=Credentials(MQTT)
    )
    async with aiomqtt.Client("127.0.0.1", 1883) as listener:
        await listener.subscribe(f"{topic}/#", qos=1)
        result = await execute_node(
            MqttPublishNode(connections),
            {"credential": "broker", "topic": topic + "/{{ item.room }}", "qos": 1},
            ctx,
            [{"room": "kitchen", "t": 21.5}, {"room": "hall", "t": 19}],
        )
        got = []
        async with asyncio.timeout(5):
            async for message in listener.messages:
                got.append((str(message.topic), json.loads(message.payload)))  # type: ignore[arg-type]
                if len(got) == 2:
                    break
    assert result.ports["main"] == [
        {"topic": f"{topic}/kitchen", "published": True},
        {"topic": f"{topic}/hall", "published": True},
    ]
    assert sorted(got) == sorted(
        [(f"{topic}/kitchen", {"room": "kitchen", "t": 21.5}), (f"{topic}/hall", {"room": "hall", "t": 19})]
    )
    with pytest.raises(NodeError, match="wildcards are for subscriptions"):
        await execute_node(MqttPublishNode(connections), {"credential": "broker", "topic": "a/#"}, ctx, [{}])
    assert (await check_credential(connections, MQTT)).ok
