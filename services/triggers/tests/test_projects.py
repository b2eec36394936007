"""Projects in the triggers service (issue 16): a registration keeps its workflow's project (those made before
projects are the default project's), an error workflow sees only its own project's runs, the listing shows and
filters by project, and an MQTT trigger asks for its credential in its workflow's project."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.db import async_engine
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import NodeError
from flowtape.common.messages.connectors import OpenTriggerCredential
from flowtape.common.messages.engine import ExecutionFinished, SyncWorkflowTriggers
from flowtape.common.messages.triggers import ListTriggers
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.topology import CONNECTORS_CREDENTIALS_QUEUE
from flowtape.triggers.application import Triggers
from flowtape.triggers.domain.registration import registration_of
from flowtape.triggers.mqtt import MqttSubscriptions
from flowtape.triggers.store import SCHEMA, TriggerStore
from services.triggers.tests.test_application import World, definition, world

__all__ = ["world"]  # the application tests' fixture: each case runs on SQLite and on PostgreSQL


async def activate(triggers: Triggers, project: str, trigger_type: str, params: dict[str, Any]) -> str:
    workflow_id = str(uuid.uuid4())
    command = SyncWorkflowTriggers(
        workflow_id=workflow_id, version=1, definition=definition(trigger_type, params), project_id=project
    )
    await triggers.sync(command)
    return workflow_id


def finished(workflow_id: str, project: str, execution_id: str) -> ExecutionFinished:
    return ExecutionFinished(
        workflow_id=workflow_id, execution_id=execution_id, workflow_version=1, status="failed", project_id=project
    )


async def test_an_error_workflow_sees_only_its_own_projects_runs(world: World) -> None:
    triggers = world.replicas[0]
    failing_a, failing_b = str(uuid.uuid4()), str(uuid.uuid4())
    wildcard_a = await activate(triggers, "a", "execution_trigger", {})
    # naming another project's workflow does not reach across either
    naming_b = await activate(triggers, "a", "execution_trigger", {"workflow_ids": [failing_b]})

    assert await triggers.on_execution_finished(finished(failing_b, "b", "e-b")) == 0
    assert await triggers.on_execution_finished(finished(failing_a, "a", "e-a")) == 1
    await world.settle()
    assert [m.workflow_id for m in world.started if m.workflow_id in (wildcard_a, naming_b)] == [wildcard_a]


async def test_the_listing_shows_each_registrations_project_and_filters_by_project(world: World) -> None:
    triggers = world.replicas[0]
    in_a = await activate(triggers, "a", "schedule", {"cron": "*/5 * * * *"})
    in_b = await activate(triggers, "b", "webhook", {"path": f"p-{uuid.uuid4().hex[:8]}"})

    every = {item["workflow_id"]: item["project_id"] for item in (await triggers.list_registrations())["items"]}
    assert every == {in_a: "a", in_b: "b"}
    only_b = await world.bus.ask(ListTriggers(project_ids=["b"]))
    assert [(item["workflow_id"], item["project_id"]) for item in only_b["items"]] == [(in_b, "b")]
    assert (await triggers.list_registrations([]))["items"] == []


async def test_registrations_made_before_projects_are_the_default_projects(database_url: str) -> None:
    engine = async_engine(database_url, SCHEMA, pool_size=2)
    old = MetaData(schema=SCHEMA)
    before = Table(
        "registrations",
        old,
        Column("workflow_id", String(64), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("node_id", String(128), nullable=False),
        Column("route_key", String(600), unique=True),
        Column("params", JSON, nullable=False),
        Column("respond_nodes", JSON, nullable=False),
        Column("registered_at", DateTime(timezone=True), nullable=False),
        Column("last_tick_at", DateTime(timezone=True)),
        Column("last_fired_at", DateTime(timezone=True)),
    )
    try:
        store = TriggerStore(engine)
        await store.create()  # the schema
        table = f'"{SCHEMA}"."registrations"' if engine.dialect.name == "postgresql" else '"registrations"'
        workflow_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: sync.exec_driver_sql(f"DROP TABLE {table}"))
            await conn.run_sync(old.create_all)
            await conn.execute(
                before.insert().values(
                    workflow_id=workflow_id,
                    version=1,
                    kind="schedule",
                    node_id="start",
                    params={"cron": "*/5 * * * *"},
                    respond_nodes=[],
                    registered_at=datetime.now(UTC),
                )
            )

        await store.create()
        await store.create()  # a second start changes nothing

        [found] = await store.all()
        assert (found.workflow_id, found.project_id) == (workflow_id, DEFAULT_PROJECT)
        assert [r.workflow_id for r in await store.all([DEFAULT_PROJECT])] == [workflow_id]
    finally:
        await engine.dispose()


async def test_an_mqtt_trigger_asks_for_its_credential_in_its_workflows_project() -> None:
    bus = MemoryBus()
    asked: list[OpenTriggerCredential] = []

    async def open_credential(query: OpenTriggerCredential) -> Any:
        asked.append(query)
        raise NodeError(f"there is no credential {query.credential!r}")

    bus.subscribe(CONNECTORS_CREDENTIALS_QUEUE, {OpenTriggerCredential: open_credential}, prefetch=1)
    await bus.start()
    registration = registration_of(
        str(uuid.uuid4()), 1, definition("mqtt_trigger", {"credential": "broker", "topic": "t/#"}), "b"
    )
    assert registration is not None
    subscriptions = MqttSubscriptions(bus, EgressPolicy.parse("127.0.0.1"), lambda *_: asyncio.sleep(0), "r")
    try:
        await subscriptions.sync([registration])
        for _ in range(200):
            if asked:
                break
            await asyncio.sleep(0.01)
        assert [(q.credential, q.project_id) for q in asked[:1]] == [("broker", "b")]
        assert not subscriptions.subscribed
    finally:
        await subscriptions.close()
        await bus.stop()
