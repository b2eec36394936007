"""Projects in the engine (one process, SQLite): a workflow's project is fixed when it is made and its runs are
in it; listings filter by project in the read model; ``GetProjectOf`` answers for workflows, runs and bulk
replays; a run cannot call another project's workflow; a workflow logged before projects is the default's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, text

from flowtape.common.db import async_engine, ensure_schema
from flowtape.common.errors import NotFound
from flowtape.common.messages import engine as msg
from flowtape.common.settings import Settings
from flowtape.engine import projections
from flowtape.engine.domain.workflow import Workflow
from flowtape.engine.projections import SCHEMA, Projections
from services.engine.tests.test_engine import Platform, chain, node, platform


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("projects")
    settings = Settings(data_dir=data_dir, database_url=None, _env_file=None)  # type: ignore[call-arg]
    async with platform(settings) as running:
        yield running


async def _create(embedded: Platform, name: str, project: str) -> str:
    made = await embedded.ask(
        msg.CreateWorkflow(definition=chain(name, node("s", "set", fields={"x": 1})), project_id=project)
    )
    assert made["project_id"] == project
    return str(made["id"])


async def test_workflows_and_their_runs_belong_to_the_workflows_project(embedded: Platform) -> None:
    in_a, in_b = await _create(embedded, "a flow", "a"), await _create(embedded, "b flow", "b")
    listed = {
        str(projects): {w["id"] for w in (await embedded.ask(msg.ListWorkflows(project_ids=projects)))["items"]}
        for projects in (["a"], ["a", "b"], [])
    }
    assert in_a in listed["['a']"] and in_b not in listed["['a']"]
    assert {in_a, in_b} <= listed["['a', 'b']"] and listed["[]"] == set()

    run = await embedded.run(in_b)
    assert run["project_id"] == "b"
    runs = await embedded.ask(msg.ListExecutions(project_ids=["a"]))
    assert run["id"] not in {e["id"] for e in runs["items"]}
    assert run["id"] in {e["id"] for e in (await embedded.ask(msg.ListExecutions(project_ids=["b"])))["items"]}

    for kind, thing in (("workflow", in_b), ("execution", run["id"])):
        assert await embedded.ask(msg.GetProjectOf(kind_of=kind, id=thing)) == {"project_id": "b"}
    job = await embedded.ask(msg.StartBulkReplay(workflow_id=in_b, status="succeeded", dry_run=True))
    assert job["project_id"] == "b"
    assert await embedded.ask(msg.GetProjectOf(kind_of="bulk_replay", id=job["id"])) == {"project_id": "b"}
    for kind in ("workflow", "execution", "bulk_replay"):
        with pytest.raises(NotFound):
            await embedded.ask(msg.GetProjectOf(kind_of=kind, id=str(uuid.uuid4())))
    for kind in ("workflow", "execution"):  # the fuzzer's id: on PostgreSQL a NUL in a query was a 500
        with pytest.raises(NotFound):
            await embedded.ask(msg.GetProjectOf(kind_of=kind, id="\u00e3}\u0000"))


async def test_a_run_or_workflow_not_in_this_replicas_read_model_yet_has_its_project_from_the_log(
    tmp_path: Path,
) -> None:
    """Another engine replica's fresh run or workflow may not be projected where ``GetProjectOf`` is answered
    (``projected`` waits for this replica's own saves only): the log, shared by every replica, has the project.
    Here the read model's rows are taken away, as if not written yet."""
    settings = Settings(data_dir=tmp_path, database_url=None, _env_file=None)  # type: ignore[call-arg]
    async with platform(settings) as engine:
        workflow = await _create(engine, "fresh", "c")
        run = await engine.run(workflow)
        db = async_engine(settings.database_url_for("engine"), SCHEMA)
        try:
            async with db.begin() as conn:
                await conn.execute(projections.executions.delete().where(projections.executions.c.id == run["id"]))
                await conn.execute(projections.workflows.delete().where(projections.workflows.c.id == workflow))
        finally:
            await db.dispose()
        for kind, thing in (("workflow", workflow), ("execution", run["id"])):
            assert await engine.ask(msg.GetProjectOf(kind_of=kind, id=thing)) == {"project_id": "c"}
        with pytest.raises(NotFound):
            await engine.ask(msg.GetProjectOf(kind_of="execution", id=str(uuid.uuid4())))


async def test_copies_stay_in_their_project_and_imports_keep_theirs(embedded: Platform) -> None:
    source = await _create(embedded, "source", "a")
    copy = await embedded.ask(msg.DuplicateWorkflow(workflow_id=source))
    assert copy["project_id"] == "a"
    moved = await embedded.ask(msg.DuplicateWorkflow(workflow_id=source, project_id="b"))
    assert moved["project_id"] == "b"
    definition = chain("source", node("s", "set", fields={"x": 2}))
    with pytest.raises(NotFound):  # it exists, in a project the importer may not change
        await embedded.ask(msg.ImportWorkflow(workflow_id=uuid.UUID(source), definition=definition, project_ids=["b"]))
    updated = await embedded.ask(
        msg.ImportWorkflow(workflow_id=uuid.UUID(source), definition=definition, project_ids=["a"])
    )
    assert updated["outcome"] == "updated" and updated["workflow"]["project_id"] == "a"
    new = await embedded.ask(msg.ImportWorkflow(workflow_id=uuid.uuid4(), definition=definition, project_id="b"))
    assert new["outcome"] == "created" and new["workflow"]["project_id"] == "b"


async def test_a_run_cannot_call_another_projects_workflow(embedded: Platform) -> None:
    child_a, child_b = await _create(embedded, "child a", "a"), await _create(embedded, "child b", "b")
    calls_own = await embedded.ask(
        msg.CreateWorkflow(definition=chain("p", node("sub", "execute_workflow", workflow_id=child_a)), project_id="a")
    )
    assert (await embedded.run(str(calls_own["id"])))["status"] == "succeeded"
    calls_other = await embedded.ask(
        msg.CreateWorkflow(definition=chain("p", node("sub", "execute_workflow", workflow_id=child_b)), project_id="a")
    )
    failed = await embedded.run(str(calls_other["id"]))
    assert failed["status"] == "failed" and "does not exist" in failed["error"], failed["error"]


def test_a_workflow_created_before_projects_is_the_default_projects() -> None:
    """Its stored ``WorkflowCreated`` has no ``project_id``. The log's mapper makes an event from what was stored
    without calling its ``__init__`` (``object.__new__``, then the stored attributes), as here."""
    created = object.__new__(Workflow.WorkflowCreated)  # type: ignore[attr-defined]
    created.__dict__.update(
        originator_id=uuid.uuid4(),
        originator_version=1,
        timestamp=datetime.now(UTC),
        originator_topic="flowtape.engine.domain.workflow:Workflow",
        name="old",
        definition={"name": "old", "nodes": [], "edges": []},
    )
    workflow = created.mutate(None)
    assert workflow.project_id == "default" and workflow.name == "old"


async def test_read_models_made_before_projects_move_into_the_default_project(database_url: str) -> None:
    """The tables as they were (no ``project_id``), with a row each: starting adds the column, rows in default."""
    db = async_engine(database_url, SCHEMA)
    old = MetaData(schema=SCHEMA)
    for table in (projections.executions, projections.workflows):
        Table(
            table.name,
            old,
            *[Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns if c.name != "project_id"],
        )
    try:
        await ensure_schema(db, SCHEMA)
        async with db.begin() as conn:
            for table in (projections.executions, projections.workflows):
                await conn.execute(text(f"DROP TABLE IF EXISTS {_name(conn, table.name)}"))
            await conn.run_sync(old.create_all)
            summaries = old.tables[f"{SCHEMA}.execution_summaries"]
            await conn.execute(summaries.insert().values(id="e-old", workflow_id="w-old", status="succeeded"))
            workflow_rows = old.tables[f"{SCHEMA}.workflow_summaries"]
            await conn.execute(workflow_rows.insert().values(id="w-old", name="old", deleted=False))
        read_models = Projections(db)
        await read_models.create()
        await read_models.create()  # a second start finds the column and changes nothing
        assert await read_models.project_of_execution("e-old") == "default"
        assert await read_models.project_of_workflow("w-old") == "default"
        ids, _ = await read_models.list_workflows(limit=10, cursor=None, project_ids=["default"])
        assert "w-old" in ids
    finally:
        async with db.begin() as conn:
            for table in (projections.executions, projections.workflows):
                await conn.execute(text(f"DROP TABLE IF EXISTS {_name(conn, table.name)}"))
        await db.dispose()


def _name(conn: Any, table: str) -> str:
    return f"{SCHEMA}.{table}" if conn.dialect.name == "postgresql" else table
