"""The triggers service's application on a real store (SQLite and PostgreSQL), the in-process bus and a fake
clock: schedules fire at the right instants and once per tick across replicas, webhook routes are unique,
finished executions and routed messages start the workflows that watch for them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.db import async_engine
from flowtape.common.errors import Conflict, NotFound
from flowtape.common.messages.engine import ExecutionFinished, StartExecution, SyncWorkflowTriggers
from flowtape.common.topology import ENGINE_PARTITIONS, EVENTS, partition_queue
from flowtape.triggers import bus as handlers
from flowtape.triggers.application import Triggers
from flowtape.triggers.store import SCHEMA, TriggerStore


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    bus: MemoryBus
    clock: FakeClock
    replicas: list[Triggers]
    registry: CollectorRegistry
    started: list[StartExecution] = field(default_factory=list)

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0.01)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    registry = CollectorRegistry()
    bus = MemoryBus(registry)
    clock = FakeClock(at("2026-03-02T10:02:00+00:00"))
    engines = [async_engine(database_url, SCHEMA, pool_size=2) for _ in range(2)]
    replicas = []
    for engine in engines:
        store = TriggerStore(engine)
        await store.create()
        for stale in await store.all():  # the PostgreSQL database is shared by the module's tests
            await store.remove(stale.workflow_id)
        replicas.append(Triggers(store, bus, clock))
    state = World(bus, clock, replicas, registry)

    async def record(message: StartExecution) -> None:
        state.started.append(message)

    for partition in range(ENGINE_PARTITIONS):  # where the engine replicas take StartExecution from
        bus.subscribe(partition_queue(partition), {StartExecution: record}, prefetch=1)
    handlers.subscribe(bus, replicas[0], "replica-a")
    await bus.start()
    try:
        yield state
    finally:
        await bus.stop()
        for engine in engines:
            await engine.dispose()


def definition(trigger_type: str, params: dict[str, Any], *, respond: bool = False) -> dict[str, Any]:
    nodes = [{"id": "start", "type": trigger_type, "params": params}, {"id": "next", "type": "noop"}]
    edges = [{"from": "start", "to": "next"}]
    if respond:
        nodes.append({"id": "answer", "type": "respond", "params": {"status": 201}})
        edges.append({"from": "next", "to": "answer"})
    return {"name": "t", "nodes": nodes, "edges": edges}


async def activate(triggers: Triggers, trigger_type: str, params: dict[str, Any], **kw: Any) -> str:
    workflow_id = str(uuid.uuid4())
    await triggers.sync(
        SyncWorkflowTriggers(workflow_id=workflow_id, version=1, definition=definition(trigger_type, params, **kw))
    )
    return workflow_id


async def test_cron_fires_at_its_instants_with_a_fake_clock(world: World) -> None:
    triggers = world.replicas[0]
    workflow_id = await activate(triggers, "schedule", {"cron": "*/5 * * * *"})
    fired = []
    for now in ("10:04:59", "10:05:00.300", "10:05:40", "10:09:59.999", "10:10:00.010", "10:10:01"):
        world.clock.now = at(f"2026-03-02T{now}+00:00")
        fired.append(await triggers.fire_due(world.clock.now))
    assert fired == [0, 1, 0, 0, 1, 0]
    assert triggers.next_wakeup(world.clock.now) == at("2026-03-02T10:15:00+00:00")
    await world.settle()
    mine = [m for m in world.started if m.workflow_id == workflow_id]
    assert [m.input for m in mine] == [
        [{"scheduled_at": "2026-03-02T10:05:00.000000Z", "fired_at": "2026-03-02T10:05:00.300000Z"}],
        [{"scheduled_at": "2026-03-02T10:10:00.000000Z", "fired_at": "2026-03-02T10:10:00.010000Z"}],
    ]
    listed = {item["workflow_id"]: item for item in (await triggers.list_registrations())["items"]}
    assert listed[workflow_id]["last_fired_at"] == "2026-03-02T10:10:00.010000Z"
    assert listed[workflow_id]["next_fire_at"] == "2026-03-02T10:15:00.000000Z"


async def test_two_replicas_fire_each_tick_once(world: World) -> None:
    first, second = world.replicas
    workflow_id = await activate(first, "schedule", {"interval": 1})
    await second.reload()
    start = world.clock.now
    for step in range(1, 31):
        world.clock.now = start + timedelta(milliseconds=150 * step)
        await asyncio.gather(first.fire_due(world.clock.now), second.fire_due(world.clock.now))
    await world.settle()
    ticks = [m.input[0]["scheduled_at"] for m in world.started if m.workflow_id == workflow_id]
    assert len(ticks) == 4 and len(set(ticks)) == 4  # 10:02:01 .. 10:02:04 in 4.5 s
    assert await first._store.fire_keys(workflow_id) == [f"tick:{tick}" for tick in sorted(ticks)]


async def test_catch_up_latest_after_downtime(world: World, database_url: str) -> None:
    triggers = world.replicas[0]
    workflow_id = await activate(triggers, "schedule", {"cron": "0 * * * *", "catch_up": "latest"})
    world.clock.now = at("2026-03-02T11:00:00.5+00:00")
    assert await triggers.fire_due(world.clock.now) == 1
    # a replica that starts after five hours of downtime runs the latest missed tick once
    engine = async_engine(database_url, SCHEMA, pool_size=1)
    try:
        restarted = Triggers(TriggerStore(engine), world.bus, world.clock)
        await restarted.reload()
        world.clock.now = at("2026-03-02T16:30:00+00:00")
        assert await restarted.fire_due(world.clock.now) == 1
        assert await restarted.fire_due(world.clock.now + timedelta(seconds=1)) == 0
    finally:
        await engine.dispose()
    await world.settle()
    ticks = [m.input[0]["scheduled_at"] for m in world.started if m.workflow_id == workflow_id]
    assert ticks == ["2026-03-02T11:00:00.000000Z", "2026-03-02T16:00:00.000000Z"]


async def test_webhook_routes_are_unique_among_active_workflows(world: World) -> None:
    triggers = world.replicas[0]
    path = f"orders-{uuid.uuid4().hex[:6]}"
    first = await activate(triggers, "webhook", {"path": path, "respond": "last_node"}, respond=True)
    with pytest.raises(Conflict) as refused:
        await activate(triggers, "webhook", {"path": f"/{path}/", "method": "post"})
    assert refused.value.details["workflow_id"] == first
    other_method = await activate(triggers, "webhook", {"path": path, "method": "GET"})
    route = await triggers.resolve_webhook("post", path)
    assert route["workflow_id"] == first and route["respond_nodes"] == ["answer"]
    assert (await triggers.resolve_webhook("GET", path))["workflow_id"] == other_method
    await triggers.sync(SyncWorkflowTriggers(workflow_id=first, definition=None))
    with pytest.raises(NotFound):
        await triggers.resolve_webhook("POST", path)
    await activate(triggers, "webhook", {"path": path})


async def test_a_failed_execution_starts_the_error_workflow_once(world: World) -> None:
    triggers = world.replicas[0]
    failing = str(uuid.uuid4())
    watcher = await activate(triggers, "execution_trigger", {"workflow_ids": [failing]})
    wildcard = await activate(triggers, "execution_trigger", {"statuses": ["failed", "succeeded"]})
    notice = ExecutionFinished(
        workflow_id=failing, execution_id="e-1", workflow_version=3, status="failed", error="node x failed: boom"
    )
    assert await triggers.on_execution_finished(notice) == 2
    assert await triggers.on_execution_finished(notice) == 0  # a redelivery starts nothing more
    # the wildcard watcher ignores other watchers' executions: they cannot start each other forever
    assert (
        await triggers.on_execution_finished(
            ExecutionFinished(workflow_id=watcher, execution_id="e-2", workflow_version=1, status="succeeded")
        )
        == 0
    )
    await world.settle()
    started = {m.workflow_id: m for m in world.started if m.workflow_id in (watcher, wildcard)}
    assert started[watcher].input == [
        {
            "execution_id": "e-1",
            "workflow_id": failing,
            "workflow_version": 3,
            "status": "failed",
            "error": "node x failed: boom",
        }
    ]
    assert started[wildcard].input == started[watcher].input


async def test_finished_executions_reach_the_service_only_while_an_execution_trigger_exists(world: World) -> None:
    """Without an execution trigger no run's finish costs the service anything; with one, a finish the start's
    reply already answered (``answered``, which no gateway hears) starts the error workflow all the same."""
    triggers = world.replicas[0]
    await triggers.reload()

    def handled() -> float:
        value = world.registry.get_sample_value(
            "flowtape_bus_handled_total", {"queue": "triggers.execution-finished", "outcome": "ack"}
        )
        return value or 0.0

    failing = str(uuid.uuid4())

    def notice(execution_id: str, *, answered: bool) -> ExecutionFinished:
        return ExecutionFinished(
            workflow_id=failing, execution_id=execution_id, workflow_version=1, status="failed", answered=answered
        )

    await world.bus.publish(notice("e-unwatched", answered=False))
    await world.settle()
    assert handled() == 0

    watcher = await activate(triggers, "execution_trigger", {"workflow_ids": [failing]})
    await world.bus.publish(notice("e-answered", answered=True))
    await world.bus.publish(notice("e-waited", answered=False))
    await world.settle()
    assert handled() == 2
    assert sorted(m.input[0]["execution_id"] for m in world.started if m.workflow_id == watcher) == [
        "e-answered",
        "e-waited",
    ]

    await triggers.sync(SyncWorkflowTriggers(workflow_id=watcher, definition=None))
    await world.bus.publish(notice("e-after", answered=False))
    await world.settle()
    assert handled() == 2


async def test_a_message_on_a_bound_routing_key_starts_the_workflow(world: World) -> None:
    triggers = world.replicas[0]
    workflow_id = await activate(triggers, "message_trigger", {"routing_key": "shop.order.*"})
    await world.bus.publish_raw(EVENTS, "shop.order.created", json.dumps({"order": 7}).encode())
    await world.bus.publish_raw(EVENTS, "shop.invoice.created", json.dumps({"invoice": 1}).encode())
    await world.bus.publish_raw(EVENTS, "shop.order.note", b"plain text")
    await world.settle()
    mine = [m for m in world.started if m.workflow_id == workflow_id]
    assert sorted(json.dumps(m.input) for m in mine) == sorted(
        json.dumps(items) for items in ([{"order": 7}], [{"body": "plain text"}])
    )
    assert {m.trigger["message"]["routing_key"] for m in mine} == {"shop.order.created", "shop.order.note"}
    await triggers.sync(SyncWorkflowTriggers(workflow_id=workflow_id, definition=None))
    await world.bus.publish_raw(EVENTS, "shop.order.created", b"{}")
    await world.settle()
    assert len([m for m in world.started if m.workflow_id == workflow_id]) == 2


async def test_reconcile_follows_the_engines_active_workflows(world: World) -> None:
    triggers = world.replicas[0]
    stale = await activate(triggers, "schedule", {"interval": 60})
    missed = str(uuid.uuid4())
    listing = [{"workflow_id": missed, "version": 2, "definition": definition("webhook", {"path": f"m-{missed}"})}]
    # a registration as recent as an activation in flight is kept; an old one no longer listed is removed
    await triggers.reconcile(listing, since=world.clock.now)
    assert {r.workflow_id for r in await triggers._store.all()} == {stale, missed}
    await triggers.reconcile(listing, since=world.clock.now + timedelta(minutes=5))
    assert [(r.workflow_id, r.version) for r in await triggers._store.all()] == [(missed, 2)]
    assert (await triggers.resolve_webhook("POST", f"m-{missed}"))["version"] == 2
