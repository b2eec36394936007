"""End to end: a bad message on any queue of the platform is dead-lettered with its reason and never stops the
queue's consumer (issue 15, item 5).

Every queue the running services declared (the topology's shared queues, the engine's partitions, each
replica's broadcast queues) gets three poisons straight from the default exchange: a known type whose body
breaks its schema, an unknown type and a body that is not JSON. Each must reach the dead-letter store naming its
queue and why; each queue must be drained by a consumer that is still there; and the platform must still work.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from flowtape.common.bus.rabbit import RabbitBus
from flowtape.common.topology import (
    AUTH_AUDIT_QUEUE,
    AUTH_REQUESTS_QUEUE,
    CONNECTORS_CREDENTIALS_QUEUE,
    CONNECTORS_QUERIES_QUEUE,
    CONNECTORS_TASKS_QUEUE,
    DEAD_LETTER_QUEUE,
    ENGINE_CATALOG_QUEUE,
    ENGINE_PARTITIONS,
    ENGINE_REQUESTS_QUEUE,
    ENGINE_TASK_RESULTS_QUEUE,
    TRIGGERS_EXECUTIONS_QUEUE,
    TRIGGERS_MESSAGES_QUEUE,
    TRIGGERS_REQUESTS_QUEUE,
    partition_queue,
)
from tests import workflows
from tests.infra import Platform
from tests.test_distributed import create, run

SHARED_QUEUES = {
    ENGINE_REQUESTS_QUEUE.name,
    ENGINE_TASK_RESULTS_QUEUE.name,
    ENGINE_CATALOG_QUEUE.name,
    CONNECTORS_TASKS_QUEUE.name,
    CONNECTORS_QUERIES_QUEUE.name,
    CONNECTORS_CREDENTIALS_QUEUE.name,
    TRIGGERS_REQUESTS_QUEUE.name,
    TRIGGERS_EXECUTIONS_QUEUE.name,
    AUTH_REQUESTS_QUEUE.name,
    AUTH_AUDIT_QUEUE.name,
    *(partition_queue(p).name for p in range(ENGINE_PARTITIONS)),
}
#: the outside world's messages for message triggers: any payload is data there (it becomes the trigger's item),
#: so nothing sent to it is a broken contract; it is checked to keep consuming, not to dead-letter
ROUTED = TRIGGERS_MESSAGES_QUEUE.name


def queues(platform: Platform) -> dict[str, tuple[int, int]]:
    """``{name: (messages, consumers)}`` of every queue on the platform's virtual host."""
    vhost = unquote(urlsplit(platform.amqp_url).path.lstrip("/"))
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", vhost, "name", "messages", "consumers", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    found = {}
    for line in listed.splitlines():
        name, messages, consumers = line.split("\t")
        found[name] = (int(messages), int(consumers))
    return found


def poisons(run_id: str, queue: str) -> dict[str, bytes]:
    """The three poisons, each marked with the run, its kind and the queue it is sent to."""

    def marker(kind: str) -> bytes:
        return f"poison-{run_id}-{kind}-{queue}".encode()

    return {
        "schema": b'{"type": "engine.StartExecution.v1", "body": {"input": "' + marker("schema") + b'"}}',
        "type": b'{"type": "flowtape.NoSuchThing.v1", "body": {"marker": "' + marker("type") + b'"}}',
        "json": b"this is not JSON " + marker("json"),
    }


REASONS = {"schema": "failed validation", "type": "unknown message type", "json": "not a Flowtape message envelope"}


def send(amqp_url: str, letters: list[tuple[str, bytes]]) -> None:
    async def publish() -> None:
        bus = RabbitBus(amqp_url, service="test-poison")
        await bus.start()
        try:
            for queue, body in letters:
                await bus.publish_to_queue(queue, body)
        finally:
            await bus.stop()

    asyncio.run(publish())


def dead_letters(api: httpx.Client) -> list[dict[str, Any]]:
    response = api.get("/api/v1/admin/dead-letters", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_bad_messages_on_every_queue_are_dead_lettered_and_every_consumer_goes_on(
    api: httpx.Client, platform: Platform
) -> None:
    workflow_id = create(api, workflows.chain(2, name="after-poison"))
    assert run(api, workflow_id, [{"n": 1}])["status"] == "succeeded"  # every service is up and has declared
    present = queues(platform)
    assert SHARED_QUEUES <= set(present), SHARED_QUEUES - set(present)
    targets = sorted(name for name in present if name != DEAD_LETTER_QUEUE.name and not name.startswith("replies."))
    broadcast = [name for name in targets if name not in SHARED_QUEUES and name != ROUTED]
    assert broadcast, targets  # each replica's queue for broadcast events (finished runs, auth keys, ...)

    run_id = uuid.uuid4().hex[:8]
    letters = [(queue, body) for queue in targets for body in poisons(run_id, queue).values()]
    send(platform.amqp_url, letters)

    expected = {(queue, kind) for queue in targets if queue != ROUTED for kind in REASONS}
    deadline = time.monotonic() + 90
    while True:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for letter in dead_letters(api):
            for kind in REASONS:
                prefix = f"poison-{run_id}-{kind}-"
                if prefix in letter["body"]:
                    found[(letter["body"].split(prefix, 1)[1].split('"')[0], kind)] = letter
        if set(found) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(found) >= expected, sorted(expected - set(found))[:20]
    for (queue, kind), letter in found.items():
        assert letter["queue"] == queue, letter
        assert REASONS[kind] in letter["reason"], letter
    assert not [key for key in found if key[0] == ROUTED]

    # every queue was drained by a consumer still attached, and the platform still runs workflows
    deadline = time.monotonic() + 30
    while (busy := {n: v for n, v in queues(platform).items() if n in targets and v[0] > 0}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert not busy, busy
    now = queues(platform)
    assert all(now[name][1] >= 1 for name in targets if name in now), {n: now[n] for n in targets if n in now}
    assert run(api, workflow_id, [{"n": 2}])["status"] == "succeeded"
    assert api.get("/api/v1/auth/me").status_code == 200
