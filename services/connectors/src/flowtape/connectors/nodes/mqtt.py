"""The ``mqtt_publish`` node: publish each item to a topic of an MQTT broker (one connection per task)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from flowtape.common.credentials import MqttCredential
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.outbound import connect_address
from flowtape.connectors.pools import CONNECT_TIMEOUT, connect_failed
from flowtape.connectors.tls import client_context

if TYPE_CHECKING:  # the MQTT client library loads with the first MQTT connection (~7 MB a process without one)
    import aiomqtt


class MqttPublishParams(NodeParams):
    credential: str = Field(min_length=1, description="an mqtt credential's id or name")
    topic: str = Field(min_length=1, max_length=65535, description="the topic (no wildcards)")
    message: Any = Field(
        default=None, description="the payload: text as is, anything else as JSON; the item if not given"
    )
    qos: Literal[0, 1, 2] = 1
    retain: bool = False


async def mqtt_client(egress: EgressPolicy, data: MqttCredential, identifier: str | None = None) -> aiomqtt.Client:
    """A client (not yet connected: use it as an async context manager) to the checked address."""
    import aiomqtt

    host = await connect_address(egress, data.host, data.port, verified_tls=data.tls == "verify")
    context = client_context(data.tls)
    return aiomqtt.Client(
        host,
        data.port,
        username=data.username,
        password=data.password.get_secret_value() if data.password else None,
        identifier=identifier,
        tls_context=context,
        tls_insecure=data.tls == "require" or None,
        timeout=CONNECT_TIMEOUT,
        protocol=aiomqtt.ProtocolVersion.V5,
    )


class MqttPublishNode(NodeType[MqttPublishParams]):
    """Outputs per item ``{"topic", "published": true}`` once the broker acknowledged it (QoS 1 and 2).

    One connected client per credential is kept and shared by the tasks that use it; a broken one is
    replaced once before the node fails.
    """

    type = "mqtt_publish"
    category = "queue"
    description = "Publish each item (or a message built from it) to an MQTT topic."
    Params = MqttPublishParams
    examples = (
        NodeExample(
            title="Publish a sensor reading to its own topic (credential 'sensor-broker')",
            params={
                "credential": "sensor-broker",
                "topic": "greenhouse/{{ item.sensor }}/temperature",
                "message": {"celsius": "{{ item.celsius }}", "at": "{{ item.at }}"},
            },
            input=[{"sensor": "bed-3", "celsius": 21.5, "at": "2026-11-30T08:00:00Z"}],
            output={"main": [{"topic": "greenhouse/bed-3/temperature", "published": True}]},
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._open: dict[str, tuple[str, aiomqtt.Client]] = {}
        self._lock = asyncio.Lock()
        connections.on_close(self._close)

    async def _close(self) -> None:
        if not self._open:
            return
        import aiomqtt

        for _, client in self._open.values():
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
        self._open.clear()

    async def _client(self, credential: Credential, fresh: bool = False) -> aiomqtt.Client:
        import aiomqtt

        data = credential.data
        assert isinstance(data, MqttCredential)
        fingerprint = json.dumps(data.reveal(), sort_keys=True)
        async with self._lock:
            known = self._open.pop(credential.id, None)
            if known is not None and known[0] == fingerprint and not fresh:
                self._open[credential.id] = known
                return known[1]
            if known is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await known[1].__aexit__(None, None, None)
            client = await mqtt_client(self._connections.egress, data)
            try:
                await client.__aenter__()
            except aiomqtt.MqttError as exc:
                raise connect_failed("the MQTT broker", data.host, data.port, exc) from None
            self._open[credential.id] = (fingerprint, client)
            return client

    async def run_item(self, ctx: NodeContext, params: MqttPublishParams, item: Item) -> NodeResult:
        import aiomqtt

        if "+" in params.topic or "#" in params.topic:
            raise NodeError(f"cannot publish to {params.topic!r}: wildcards are for subscriptions")
        credential = await ctx.credential(params.credential, "mqtt")
        body = item if params.message is None else params.message
        payload = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        for fresh in (False, True):
            client = await self._client(credential, fresh=fresh)
            try:
                await client.publish(params.topic, payload, qos=params.qos, retain=params.retain)
                break
            except aiomqtt.MqttError as exc:
                if fresh:
                    raise NodeError(f"publishing to MQTT topic {params.topic!r} failed: {exc}") from None
        return NodeResult.on([{"topic": params.topic, "published": True}])
