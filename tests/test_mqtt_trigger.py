"""End to end: an mqtt_trigger workflow on the machine's Mosquitto, with two triggers replicas: each message
starts exactly one run, and a message that carries its own id starts one run however often it is sent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiomqtt
import httpx
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.infra import Platform, wait_ready
from tests.test_credentials import create_credential
from tests.test_triggers import activate, create, deactivate, eventually, executions_of


def publish(topic: str, payloads: list[Any], message_id: str | None = None) -> None:
    async def send() -> None:
        async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as client:
            for payload in payloads:
                properties = None
                if message_id is not None:
                    properties = Properties(PacketTypes.PUBLISH)
                    properties.UserProperty = [("message_id", message_id)]
                await client.publish(topic, json.dumps(payload), qos=1, properties=properties)

    asyncio.run(send())


def test_each_message_starts_one_run_across_two_replicas(api: httpx.Client, platform: Platform) -> None:
    replica = platform.start("triggers", name="triggers-mqtt-2")
    try:
        wait_ready(replica.url, process=replica.popen)
        create_credential(api, "mosquitto", "mqtt", {"host": "127.0.0.1", "port": 1883, "tls": "disable"})
        base = f"flowtape-test/{uuid.uuid4().hex}"
        workflow_id = create(
            api,
            {
                "name": "mqtt-sensor",
                "nodes": [
                    {
                        "id": "sensor",
                        "type": "mqtt_trigger",
                        "params": {"credential": "mosquitto", "topic": f"{base}/+"},
                    },
                    {"id": "mark", "type": "set", "params": {"fields": {"seen": True}}},
                ],
                "edges": [{"from": "sensor", "to": "mark"}],
            },
        )
        activate(api, workflow_id)
        listed = api.get("/api/v1/triggers").json()["items"]
        assert any(t["workflow_id"] == workflow_id and t["kind"] == "mqtt" for t in listed)

        # exactly once means something only when both replicas hold the subscription
        def subscribed(name: str) -> bool:
            return f"for workflow {workflow_id}" in platform.processes[name].log.read_text()

        eventually(lambda: subscribed("triggers") and subscribed("triggers-mqtt-2"), timeout=30)
        before = len(executions_of(api, workflow_id))

        publish(f"{base}/kitchen", [{"n": n} for n in range(10)])
        eventually(lambda: len(executions_of(api, workflow_id)) >= before + 10, timeout=30)
        publish(f"{base}/hall", [{"n": 99}, {"n": 99}, {"n": 99}], message_id=f"reading-{uuid.uuid4().hex}")
        eventually(lambda: len(executions_of(api, workflow_id)) >= before + 11, timeout=30)
        time.sleep(3)

        runs = executions_of(api, workflow_id)
        assert len(runs) == before + 11, "one run per message, the three copies of one id once"
        done = eventually(lambda: all(r["status"] == "succeeded" for r in executions_of(api, workflow_id)) or None)
        assert done
        newest = api.get(f"/api/v1/executions/{runs[0]['id']}").json()
        assert newest["output"][0]["seen"] is True
        deactivate(api, workflow_id)
    finally:
        platform.stop("triggers-mqtt-2")
        platform.processes.pop("triggers-mqtt-2", None)
