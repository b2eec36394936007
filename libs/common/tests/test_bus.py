"""The bus contract, run unchanged on the in-process bus and on a real RabbitMQ.

Each RabbitMQ test module gets its own virtual host (``rabbitmqctl``), so queues and dead letters left by
other suites cannot leak in. An unreachable broker fails the suite: it never skips.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
from pydantic import ValidationError
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.bus.rabbit import RabbitBus
from flowtape.common.errors import NotFound, TimedOut, Unavailable
from flowtape.common.messages.engine import ExecutionFinished, GetWorkflow
from flowtape.common.topology import DEAD_LETTERS, ENGINE_REQUESTS, EXECUTION_FINISHED, QueueSpec
from flowtape.common.workflow import WorkflowDefinition
from tests.infra import ADMIN_DATABASE_URL

AMQP_URL = os.environ.get("FLOWTAPE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _rabbitmqctl(*args: str) -> None:
    try:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {exc} {detail}".strip())


@pytest.fixture(scope="module")
def rabbit_url() -> Iterator[str]:
    """A fresh virtual host on the test broker, deleted after the module."""
    parts = urlsplit(AMQP_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} (FLOWTAPE_TEST_AMQP_URL): {exc}")
    vhost = f"flowtape-test-bus-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@dataclass
class DeadLetter:
    reason: str
    body: bytes


@dataclass
class Harness:
    """One bus adapter plus what a test needs to observe it from outside."""

    bus: MemoryBus | RabbitBus
    rabbit_url: str | None = None
    _buses: list[MemoryBus | RabbitBus] = field(default_factory=list)
    _queues: list[str] = field(default_factory=list)
    _dead: list[tuple[str, DeadLetter]] = field(default_factory=list)

    def queue(self, route_exchange: str, binding: str, *, delivery_limit: int = 3, quorum: bool = True) -> QueueSpec:
        spec = QueueSpec(
            name=f"test.bus.{uuid.uuid4().hex[:10]}",
            exchange=route_exchange,
            binding=binding,
            delivery_limit=delivery_limit,
            quorum=quorum,
        )
        self._queues.append(spec.name)
        return spec

    def replica(self) -> MemoryBus | RabbitBus:
        """Another process's connection to the same broker (in process, the bus itself)."""
        if self.rabbit_url is None:
            return self.bus
        bus = RabbitBus(self.rabbit_url, service="test-replica")
        self._buses.append(bus)
        return bus

    async def start(self) -> None:
        for bus in self._buses:
            await bus.start()

    async def stop(self) -> None:
        for bus in reversed(self._buses):
            await bus.stop()
        if self.rabbit_url is not None and self._queues:
            connection = await aio_pika.connect(self.rabbit_url)
            async with connection:
                channel = await connection.channel()
                for name in self._queues:
                    await channel.queue_delete(name)

    async def dead_letters(self, queue: QueueSpec, expected: int, *, settle: float = 0.3) -> list[DeadLetter]:
        """Wait for ``expected`` dead letters from ``queue``, then a little longer to catch any extra."""
        await eventually(lambda: self._collect_dead(queue.name, expected))
        await asyncio.sleep(settle)
        await self._collect_dead(queue.name, None)
        return [letter for name, letter in self._dead if name == queue.name]

    async def _collect_dead(self, queue: str, expected: int | None) -> bool:
        if isinstance(self.bus, MemoryBus):
            self._dead = [(d.queue, DeadLetter(d.reason, d.body)) for d in self.bus.dead_letters]
        else:
            assert self.rabbit_url is not None
            connection = await aio_pika.connect(self.rabbit_url)
            async with connection:
                channel = await connection.channel()
                dlq = await channel.get_queue(DEAD_LETTERS)
                while (message := await dlq.get(fail=False)) is not None:
                    await message.ack()
                    headers = message.headers or {}
                    reason = headers.get("x-flowtape-reason") or headers.get("x-first-death-reason") or ""
                    self._dead.append((message.routing_key or "", DeadLetter(str(reason), message.body)))
        return expected is None or sum(name == queue for name, _ in self._dead) >= expected


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


@pytest.fixture(params=["memory", "rabbit"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        memory = MemoryBus()
        harness = Harness(memory, _buses=[memory])
    else:
        url: str = request.getfixturevalue("rabbit_url")
        rabbit = RabbitBus(url, service="test")
        harness = Harness(rabbit, rabbit_url=url, _buses=[rabbit])
    try:
        yield harness
    finally:
        await harness.stop()


def finished(execution_id: str = "e-1") -> ExecutionFinished:
    return ExecutionFinished(workflow_id="w-1", execution_id=execution_id, workflow_version=1, status="succeeded")


async def test_request_returns_the_handlers_data_and_its_errors(harness: Harness) -> None:
    async def get_workflow(message: GetWorkflow) -> dict[str, object]:
        if message.workflow_id == "missing":
            raise NotFound(f"workflow {message.workflow_id} not found")
        return {"id": message.workflow_id, "version": message.version}

    requests = harness.queue(ENGINE_REQUESTS.exchange, ENGINE_REQUESTS.routing_key, quorum=False)
    harness.bus.subscribe(requests, {GetWorkflow: get_workflow})
    await harness.start()

    assert await harness.bus.ask(GetWorkflow(workflow_id="w-1", version=2), timeout=5) == {"id": "w-1", "version": 2}
    with pytest.raises(NotFound, match="workflow missing not found"):
        await harness.bus.ask(GetWorkflow(workflow_id="missing"), timeout=5)


#: a result model with a field renamed on the wire (an edge's ``from``)
TWO_NODES = WorkflowDefinition.model_validate(
    {
        "name": "typed",
        "nodes": [{"id": "a", "type": "set"}, {"id": "b", "type": "set"}],
        "edges": [{"from": "a", "to": "b"}],
    }
)


async def test_a_typed_result_reaches_the_requester_as_its_json_with_wire_names(harness: Harness) -> None:
    """Handlers return models (views, definitions); the requester gets their JSON, with aliases as on the wire."""
    definition = TWO_NODES

    async def get_workflow(message: GetWorkflow) -> WorkflowDefinition:
        return definition

    requests = harness.queue(ENGINE_REQUESTS.exchange, ENGINE_REQUESTS.routing_key, quorum=False)
    harness.bus.subscribe(requests, {GetWorkflow: get_workflow})
    await harness.start()

    answer = await harness.bus.ask(GetWorkflow(workflow_id="w-1"), timeout=5)
    assert answer == definition.model_dump(mode="json", by_alias=True)
    assert answer["edges"][0]["from"] == "a" and "from_" not in answer["edges"][0]


async def test_asked_into_a_model_the_reply_is_that_model_and_errors_stay_errors() -> None:
    """On the in-process bus (RabbitMQ's decoding of the same replies: test_messages.py, and every distributed run)."""
    memory = MemoryBus()
    harness = Harness(memory, _buses=[memory])
    try:
        await _asked_into_a_model(harness)
    finally:
        await harness.stop()


async def _asked_into_a_model(harness: Harness) -> None:
    definition = TWO_NODES

    async def get_workflow(message: GetWorkflow) -> Any:
        if message.workflow_id == "missing":
            raise NotFound("workflow missing not found")
        if message.workflow_id == "other-shape":
            return {"name": "no nodes"}
        return definition

    requests = harness.queue(ENGINE_REQUESTS.exchange, ENGINE_REQUESTS.routing_key, quorum=False)
    harness.bus.subscribe(requests, {GetWorkflow: get_workflow})
    await harness.start()

    read = await harness.bus.ask(GetWorkflow(workflow_id="w-1"), timeout=5, into=WorkflowDefinition)
    assert isinstance(read, WorkflowDefinition) and read == definition
    with pytest.raises(NotFound, match="workflow missing not found"):
        await harness.bus.ask(GetWorkflow(workflow_id="missing"), timeout=5, into=WorkflowDefinition)
    with pytest.raises(ValidationError, match="nodes"):  # a reply of another shape says what does not fit
        await harness.bus.ask(GetWorkflow(workflow_id="other-shape"), timeout=5, into=WorkflowDefinition)


async def test_request_without_a_consumer_times_out(harness: Harness) -> None:
    await harness.start()

    with pytest.raises(TimedOut):
        await harness.bus.request(GetWorkflow(workflow_id="w-1"), timeout=0.5)


async def test_an_event_reaches_every_queue_bound_to_its_topic(harness: Harness) -> None:
    received: dict[str, list[str]] = {"audit": [], "metrics": []}
    for name in received:

        async def record(message: ExecutionFinished, name: str = name) -> None:
            received[name].append(message.execution_id)

        queue = harness.queue(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key)
        harness.bus.subscribe(queue, {ExecutionFinished: record})
    await harness.start()

    for n in range(3):
        await harness.bus.publish(finished(f"e-{n}"))

    await eventually(lambda: all(len(ids) == 3 for ids in received.values()))
    await asyncio.sleep(0.2)
    assert {name: sorted(ids) for name, ids in received.items()} == {
        "audit": ["e-0", "e-1", "e-2"],
        "metrics": ["e-0", "e-1", "e-2"],
    }


async def test_consumers_of_one_queue_compete(harness: Harness) -> None:
    handled: dict[str, list[str]] = {"first": [], "second": []}
    queue = harness.queue(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key)
    for name, bus in (("first", harness.bus), ("second", harness.replica())):

        async def record(message: ExecutionFinished, name: str = name) -> None:
            await asyncio.sleep(0.02)
            handled[name].append(message.execution_id)

        bus.subscribe(queue, {ExecutionFinished: record}, prefetch=1)
    await harness.start()

    published = [f"e-{n}" for n in range(12)]
    for execution_id in published:
        await harness.bus.publish(finished(execution_id))

    await eventually(lambda: sum(map(len, handled.values())) >= len(published))
    await asyncio.sleep(0.2)
    assert sorted(handled["first"] + handled["second"]) == sorted(published)
    assert handled["first"] and handled["second"], handled


async def test_poison_messages_are_dead_lettered_with_the_reason_and_not_redelivered(harness: Harness) -> None:
    handled: list[str] = []

    async def record(message: ExecutionFinished) -> None:
        handled.append(message.execution_id)

    queue = harness.queue(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key)
    harness.bus.subscribe(queue, {ExecutionFinished: record})
    await harness.start()

    poison = {
        b"{not json": "not a Flowtape message envelope",
        b'{"type":"engine.ExecutionFinished.v1","body":{"workflow_id":"w-1"}}': (
            "engine.ExecutionFinished.v1 failed validation"
        ),
        b'{"type":"engine.NoSuchThing.v1","body":{}}': "unknown message type 'engine.NoSuchThing.v1'",
        GetWorkflow(workflow_id="w-1").encode(): f"no handler for engine.GetWorkflow.v1 on queue {queue.name}",
    }
    for body in poison:
        await harness.bus.publish_raw(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key, body)
    await harness.bus.publish(finished("valid"))

    dead = await harness.dead_letters(queue, expected=len(poison))
    assert Counter(letter.body for letter in dead) == Counter(poison.keys()), "each poison message dead-lettered once"
    for letter in dead:
        assert poison[letter.body] in letter.reason
    assert handled == ["valid"]


async def test_a_failing_handler_is_retried_up_to_the_delivery_limit_then_dead_lettered(harness: Harness) -> None:
    attempts: list[str] = []

    async def fail(message: ExecutionFinished) -> None:
        attempts.append(message.execution_id)
        raise RuntimeError("database is down")

    queue = harness.queue(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key, delivery_limit=3)
    harness.bus.subscribe(queue, {ExecutionFinished: fail})
    await harness.start()

    event = finished("doomed")
    await harness.bus.publish(event)

    dead = await harness.dead_letters(queue, expected=1)
    assert attempts == ["doomed"] * queue.delivery_limit
    assert len(dead) == 1
    assert dead[0].reason.startswith("delivery_limit")
    assert dead[0].body == event.encode()


async def test_a_handler_that_fails_once_handles_the_message_exactly_once(harness: Harness) -> None:
    attempts: list[str] = []
    handled: list[str] = []

    async def flaky(message: ExecutionFinished) -> None:
        attempts.append(message.execution_id)
        if len(attempts) == 1:
            raise ConnectionError("peer restarting")
        handled.append(message.execution_id)

    queue = harness.queue(EXECUTION_FINISHED.exchange, EXECUTION_FINISHED.routing_key, delivery_limit=3)
    harness.bus.subscribe(queue, {ExecutionFinished: flaky})
    await harness.start()

    await harness.bus.publish(finished("once"))

    await eventually(lambda: handled == ["once"])
    assert await harness.dead_letters(queue, expected=0) == []
    assert attempts == ["once", "once"]
    assert handled == ["once"]


async def test_a_request_whose_database_is_full_answers_unavailable_and_is_not_dead_lettered(harness: Harness) -> None:
    """A handler meeting PostgreSQL's "too many clients" (here a role allowed no connection: SQLSTATE 53300, the
    error an overloaded server gives) answers 503-unavailable for the caller to try again, rather than an
    internal error, and leaves nothing in the dead letters: the request was fine, the moment was not."""
    admin = await asyncpg.connect(ADMIN_DATABASE_URL)
    role = f"ft_full_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    full = create_async_engine(make_url(ADMIN_DATABASE_URL).set(drivername="postgresql+asyncpg", username=role))

    async def get_workflow(_: GetWorkflow) -> dict[str, object]:
        async with full.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {}

    requests = harness.queue(ENGINE_REQUESTS.exchange, ENGINE_REQUESTS.routing_key, quorum=False)
    harness.bus.subscribe(requests, {GetWorkflow: get_workflow})
    await harness.start()
    try:
        with pytest.raises(Unavailable, match="cannot reach its database right now"):
            await harness.bus.ask(GetWorkflow(workflow_id="w-1"), timeout=10)
        assert await harness.dead_letters(requests, 0) == []
    finally:
        await full.dispose()
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()
