"""The ``mqtt_trigger`` node: a workflow started by each message on an MQTT topic.

The triggers service subscribes (see its ``mqtt`` module); this node only passes on the items of the message
that started the run, like every trigger. Shared here because both the triggers service (its registration)
and the catalog (its schema) need it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType


class MqttTriggerParams(NodeParams):
    credential: str = Field(min_length=1, description="an mqtt credential's id or name: the broker to subscribe to")
    topic: str = Field(
        min_length=1, max_length=1024, description="a topic filter ('+' one level, '#' the rest), e.g. 'sensors/+/temp'"
    )
    qos: Literal[0, 1, 2] = Field(default=1, description="1 or 2: the broker keeps messages until they are taken")
    payload: Literal["json", "text"] = Field(
        default="json", description="json: a JSON object is the item, a list of objects the items; text: {'payload'}"
    )

    @field_validator("topic")
    @classmethod
    def _topic_filter(cls, value: str) -> str:
        if value.startswith("$share/") or "\x00" in value:
            raise ValueError("give the topic itself: the triggers service shares the subscription among its replicas")
        for level in value.split("/"):
            if ("+" in level or "#" in level) and level not in ("+", "#"):
                raise ValueError("'+' and '#' must be a whole topic level")
        if "#" in value and not value.endswith("#"):
            raise ValueError("'#' must be the last topic level")
        return value


class MqttTriggerNode(NodeType[MqttTriggerParams]):
    """Emits the message's items; ``trigger.mqtt`` holds ``topic``, ``qos`` and ``retain``."""

    type = "mqtt_trigger"
    category = "trigger"
    description = "Starts the workflow for each message published on an MQTT topic (once, whatever the replicas)."
    Params = MqttTriggerParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="Every greenhouse sensor's readings (credential 'sensor-broker'); a JSON message is the item",
            params={"credential": "sensor-broker", "topic": "greenhouse/+/temperature"},
            input=[{"celsius": 21.5, "at": "2026-11-30T08:00:00Z"}],
            output={"main": [{"celsius": 21.5, "at": "2026-11-30T08:00:00Z"}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: MqttTriggerParams, items: list[Item]) -> NodeResult:
        return NodeResult.on(list(items))
