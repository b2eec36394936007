"""The execution log and its read models, the same cases on SQLite and on PostgreSQL.

What users rely on: a run's log survives the process and rebuilds exactly the state it had; concurrent
writers cannot silently overwrite each other; any past state is one read away; and the execution list is
a projection that can always be repaired or rebuilt from the log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import async_engine
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.workflow import Workflow
from flowtape.engine.projections import SCHEMA, Projections, executions
from flowtape.engine.store import ExecutionLog, LogWriter, WorkflowStore, open_event_log
from tests.infra import drop_connections


@dataclass
class Store:
    url: str
    log: ExecutionLog
    db: AsyncEngine
    projections: Projections

    def open_log(self) -> ExecutionLog:
        """A second, independent connection to the same log (as after a restart, or another replica)."""
        return open_event_log(ExecutionLog, self.url, SCHEMA, pool_size=2)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    db = async_engine(database_url, SCHEMA, pool_size=2)
    projections = Projections(db)
    await projections.create()  # also creates the schema eventsourcing's tables go in
    log = await asyncio.to_thread(open_event_log, ExecutionLog, database_url, SCHEMA, pool_size=2)
    try:
        yield Store(database_url, log, db, projections)
    finally:
        await asyncio.to_thread(log.close)
        await db.dispose()


def new_execution(workflow_id: str | None = None, nodes: int = 3) -> Execution:
    return Execution(
        workflow_id=workflow_id or uuid.uuid4().hex,
        workflow_version=1,
        trigger=[{"n": 1}],
        trigger_meta={},
        node_ids=[f"n{i}" for i in range(nodes)],
    )


def run_to_success(execution: Execution) -> Execution:
    for i, node_id in enumerate(execution.nodes):
        execution.schedule_node(node_id, 1, [{"n": i}])
        execution.succeed_node(node_id, 1, {"main": [{"n": i, "node": node_id}]})
    execution.succeed([{"done": True}])
    return execution


@dataclass
class BatchRecorder:
    """An ``on_saved`` callback that remembers each batch the writer reports."""

    batches: list[list[Recording[Any]]]

    async def __call__(self, app: Application[Any], recordings: Sequence[Recording[Any]]) -> None:
        self.batches.append(list(recordings))


async def test_an_execution_with_many_events_reloads_to_the_same_state(store: Store) -> None:
    execution = new_execution(nodes=120)
    for i, node_id in enumerate(execution.nodes):
        execution.schedule_node(node_id, 1, [{"i": i}])
        if i % 3 == 2:
            execution.fail_node(node_id, 1, f"error {i}", "node_error")
        else:
            execution.succeed_node(node_id, 1, {"main": [{"i": i, "nested": {"list": [i, None, "x"]}}], "other": []})
    execution.fail("node n2 failed: error 2", "n2")
    await asyncio.to_thread(store.log.save, execution)

    other = await asyncio.to_thread(store.open_log)
    try:
        loaded: Execution = await asyncio.to_thread(other.repository.get, execution.id)
        events = await asyncio.to_thread(lambda: list(other.events.get(execution.id)))
    finally:
        await asyncio.to_thread(other.close)

    assert loaded.version == execution.version == 1 + 2 * 120 + 1
    assert [event.originator_version for event in events] == list(range(1, loaded.version + 1))
    assert type(events[0]).__name__ == "ExecutionStarted"
    assert type(events[-1]).__name__ == "ExecutionFailed"
    assert loaded.nodes == execution.nodes
    assert loaded.finish_order == execution.finish_order
    assert (loaded.status, loaded.error, loaded.failed_node) == ("failed", "node n2 failed: error 2", "n2")
    assert loaded.trigger == [{"n": 1}]
    assert loaded.started_at == execution.started_at
    assert loaded.finished_at == execution.finished_at
    assert loaded.nodes["n1"].ports["main"] == [{"i": 1, "nested": {"list": [1, None, "x"]}}]


async def test_one_writer_batch_saves_several_executions_in_one_go(store: Store) -> None:
    recorder = BatchRecorder([])
    writer = LogWriter(store.log, recorder)
    writer.start()
    try:
        batch = [run_to_success(new_execution()) for _ in range(6)]
        await asyncio.gather(*(writer.save(execution) for execution in batch))
    finally:
        await writer.stop()

    assert len(recorder.batches) == 1, "saves queued together must share one transaction"
    saved = recorder.batches[0]
    assert {r.domain_event.originator_id for r in saved} == {execution.id for execution in batch}
    notification_ids = [r.notification.id for r in saved]
    assert notification_ids == sorted(notification_ids)
    for execution in batch:
        loaded = await asyncio.to_thread(store.log.repository.get, execution.id)
        assert (loaded.status, loaded.version) == ("succeeded", execution.version)


async def test_the_writer_splits_a_long_queue_into_batches_of_max_batch(store: Store) -> None:
    recorder = BatchRecorder([])
    writer = LogWriter(store.log, recorder, max_batch=4)
    writer.start()
    try:
        await asyncio.gather(*(writer.save(new_execution()) for _ in range(10)))
    finally:
        await writer.stop()

    assert [len({r.domain_event.originator_id for r in batch}) for batch in recorder.batches] == [4, 4, 2]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server to drop them
async def test_saves_and_reads_carry_on_after_the_database_drops_the_logs_connections(store: Store) -> None:
    """Pooled connections are not pinged before each use (a round trip per save): one the database closed
    (a restart, a failover, an idle timeout) must cost a retry on a fresh connection, not a failed save."""
    writer = LogWriter(store.log)
    writer.start()
    try:
        first = run_to_success(new_execution())
        await writer.save(first)
        assert await asyncio.to_thread(drop_connections, store.url), "the log held a pooled connection to drop"
        second = run_to_success(new_execution())
        await writer.save(second)
    finally:
        await writer.stop()

    for execution in (first, second):
        loaded = await asyncio.to_thread(store.log.repository.get, execution.id)
        assert (loaded.status, loaded.version) == ("succeeded", execution.version)


async def test_a_stale_save_raises_and_keeps_the_first_writers_events(store: Store) -> None:
    execution = new_execution()
    await asyncio.to_thread(store.log.save, execution)
    first = await asyncio.to_thread(store.log.repository.get, execution.id)
    second = await asyncio.to_thread(store.log.repository.get, execution.id)

    first.schedule_node("n0", 1, [{"by": "first"}])
    await asyncio.to_thread(store.log.save, first)
    second.schedule_node("n0", 1, [{"by": "second"}])
    with pytest.raises(IntegrityError):
        await asyncio.to_thread(store.log.save, second)

    loaded = await asyncio.to_thread(store.log.repository.get, execution.id)
    assert loaded.version == 2
    assert loaded.nodes["n0"].input == [{"by": "first"}]


async def test_a_stale_save_in_a_writer_batch_fails_alone(store: Store) -> None:
    execution = new_execution()
    await asyncio.to_thread(store.log.save, execution)
    stale = await asyncio.to_thread(store.log.repository.get, execution.id)
    fresh = await asyncio.to_thread(store.log.repository.get, execution.id)
    fresh.schedule_node("n0", 1, [])
    await asyncio.to_thread(store.log.save, fresh)
    stale.cancel("too late")
    neighbours = [new_execution() for _ in range(3)]

    writer = LogWriter(store.log)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.save(neighbours[0]),
            writer.save(stale),
            *(writer.save(e) for e in neighbours[1:]),
            return_exceptions=True,
        )
    finally:
        await writer.stop()

    assert outcomes[0] is None and outcomes[2:] == [None, None]
    assert isinstance(outcomes[1], IntegrityError)
    for neighbour in neighbours:
        assert (await asyncio.to_thread(store.log.repository.get, neighbour.id)).version == 1
    assert (await asyncio.to_thread(store.log.repository.get, execution.id)).status == "running"


async def test_the_state_at_each_version_is_what_it_was_after_that_event(store: Store) -> None:
    execution = new_execution(nodes=2)
    execution.schedule_node("n0", 1, [{"a": 1}])  # 2
    execution.succeed_node("n0", 1, {"main": [{"a": 2}]})  # 3
    execution.skip_nodes(["n1"])  # 4
    execution.succeed([{"a": 2}])  # 5
    await asyncio.to_thread(store.log.save, execution)

    async def at(version: int) -> Execution:
        past: Execution = await asyncio.to_thread(store.log.repository.get, execution.id, version=version)
        return past

    one, two, three, four, five = [await at(k) for k in range(1, 6)]
    assert (one.version, one.status, one.nodes["n0"].status, one.nodes["n1"].status) == (
        1,
        "running",
        "pending",
        "pending",
    )
    assert (two.nodes["n0"].status, two.nodes["n0"].input) == ("scheduled", [{"a": 1}])
    assert (three.nodes["n0"].status, three.nodes["n0"].output, three.nodes["n1"].status) == (
        "succeeded",
        [{"a": 2}],
        "pending",
    )
    assert (four.nodes["n1"].status, four.status, four.output) == ("skipped", "running", [])
    assert (five.status, five.output) == ("succeeded", [{"a": 2}])
    assert five.finished_at is not None and four.finished_at is None


async def test_executions_are_listed_once_their_runs_are_saved(store: Store) -> None:
    workflow_id = uuid.uuid4().hex
    writer = LogWriter(store.log, store.projections.apply)
    writer.start()
    try:
        ran = [run_to_success(new_execution(workflow_id)) for _ in range(3)]
        for execution in ran:
            await writer.save(execution)
        failed = new_execution(workflow_id)
        failed.fail("boom", None)
        waiting = new_execution(workflow_id)
        waiting.schedule_node("n0", 1, [])
        waiting.pause("n0", waiting.modified_on)
        await asyncio.gather(writer.save(failed), writer.save(waiting))
    finally:
        await writer.stop()

    listed = await store.projections.list_executions(workflow_id=workflow_id, status=None, limit=50, cursor=None)
    rows = {row["id"]: row for row in listed["items"]}
    assert len(rows) == 5
    assert {rows[str(e.id)]["status"] for e in ran} == {"succeeded"}
    assert rows[str(failed.id)]["status"] == "failed"
    assert rows[str(waiting.id)]["status"] == "waiting"
    assert rows[str(waiting.id)]["finished_at"] is None
    for execution in ran:
        row = rows[str(execution.id)]
        assert (row["workflow_id"], row["workflow_version"]) == (workflow_id, 1)
        assert row["finished_at"] is not None and row["started_at"] <= row["finished_at"]
    started = [row["started_at"] for row in listed["items"]]
    assert started == sorted(started, reverse=True), "newest first"

    only_failed = await store.projections.list_executions(
        workflow_id=workflow_id, status="failed", limit=50, cursor=None
    )
    assert [row["id"] for row in only_failed["items"]] == [str(failed.id)]
    assert str(waiting.id) in await store.projections.unfinished_executions()

    pages: list[str] = []
    cursor = None
    while True:
        page = await store.projections.list_executions(workflow_id=workflow_id, status=None, limit=2, cursor=cursor)
        pages.extend(row["id"] for row in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [row["id"] for row in listed["items"]], "pages cover every execution once, in order"


async def test_catch_up_projects_events_saved_without_the_projection(store: Store) -> None:
    workflow_id = uuid.uuid4().hex
    unprojected = [run_to_success(new_execution(workflow_id)) for _ in range(3)]
    await asyncio.to_thread(store.log.save, *unprojected)

    async def listed() -> dict[str, str]:
        page = await store.projections.list_executions(workflow_id=workflow_id, status=None, limit=50, cursor=None)
        return {row["id"]: row["status"] for row in page["items"]}

    assert await listed() == {}
    applied = await store.projections.catch_up(store.log)
    assert applied >= sum(e.version for e in unprojected)
    assert await listed() == {str(e.id): "succeeded" for e in unprojected}
    assert await store.projections.catch_up(store.log) == 0, "catching up twice applies nothing twice"


async def test_events_missed_by_the_projection_are_caught_up_after_later_saves(store: Store) -> None:
    """A failed projection update must not be lost once later batches move the projection on."""
    workflow_id = uuid.uuid4().hex
    missed = run_to_success(new_execution(workflow_id))
    await asyncio.to_thread(store.log.save, missed)  # saved, but its projection update never happened
    writer = LogWriter(store.log, store.projections.apply)
    writer.start()
    try:
        later = run_to_success(new_execution(workflow_id))
        await writer.save(later)
    finally:
        await writer.stop()

    await store.projections.catch_up(store.log)  # what a restart does

    page = await store.projections.list_executions(workflow_id=workflow_id, status=None, limit=50, cursor=None)
    assert {row["id"] for row in page["items"]} == {str(missed.id), str(later.id)}


async def test_rebuild_gives_the_same_rows(store: Store) -> None:
    workflow_id = uuid.uuid4().hex
    writer = LogWriter(store.log, store.projections.apply)
    writer.start()
    try:
        for i in range(4):
            execution = new_execution(workflow_id)
            if i % 2:
                run_to_success(execution)
            else:
                execution.cancel("stopped")
            await writer.save(execution)
    finally:
        await writer.stop()

    async def rows() -> list[dict[str, Any]]:
        async with store.db.connect() as conn:
            result = await conn.execute(select(executions).order_by(executions.c.id))
            return [dict(row) for row in result.mappings()]

    await store.projections.catch_up(store.log)  # as kept up to date by a running engine
    before = await rows()
    assert sum(1 for row in before if row["workflow_id"] == workflow_id) == 4
    progress: list[tuple[int, int]] = []
    applied = await store.projections.rebuild(store.log, lambda done, total: progress.append((done, total)))

    assert await rows() == before
    assert applied >= 2 * len(before), "every execution has at least two events"
    done, total = progress[-1]
    assert done == total, "rebuild reads the whole log and reports reaching its end"


async def test_megabytes_of_item_data_are_saved_beside_the_log_and_read_back_exactly(store: Store) -> None:
    """The probe's 6 MB webhook body hung the writer (five such events in one save); now it is a reference."""
    big = [{"body": "x" * 6_000_000, "n": 1}]
    execution = new_execution(nodes=2)
    for node_id in execution.nodes:
        execution.schedule_node(node_id, 1, big)
        execution.succeed_node(node_id, 1, {"main": big})
    execution.succeed(big)
    writer = LogWriter(store.log)
    writer.start()
    try:
        await asyncio.wait_for(writer.save(execution), timeout=60)
        small = new_execution()
        await asyncio.wait_for(writer.save(small), timeout=10)  # the writer is free for the next run
    finally:
        await writer.stop()

    other = await asyncio.to_thread(store.open_log)
    try:
        loaded: Execution = await asyncio.to_thread(other.repository.get, execution.id)
        rows = await asyncio.to_thread(lambda: list(other.recorder.select_events(execution.id)))
    finally:
        await asyncio.to_thread(other.close)
    assert loaded.nodes == execution.nodes
    assert loaded.output == big
    assert max(len(row.state) for row in rows) < 1024, "no event row holds the item data itself"


async def test_a_row_the_database_refuses_is_reported_and_the_other_rows_still_project(
    store: Store, database_url: str
) -> None:
    """PostgreSQL cannot store NUL in text: a workflow name holding one emptied the list (issue 8, finding 3)."""
    workflows = await asyncio.to_thread(open_event_log, WorkflowStore, store.url, SCHEMA, pool_size=2)
    writer = LogWriter(workflows, store.projections.apply)
    writer.start()
    try:
        refused = Workflow(name="nul\x00name", definition={})
        fine = Workflow(name="fine", definition={})
        await asyncio.gather(writer.save(refused), writer.save(fine))  # one batch, one projection update
        later = Workflow(name="later", definition={})
        await writer.save(later)
        await writer.projected()
        listed, _ = await store.projections.list_workflows(limit=50, cursor=None)
        reported = await store.projections.failures()
        rebuilt = await store.projections.rebuild(workflows)
        relisted, _ = await store.projections.list_workflows(limit=50, cursor=None)
    finally:
        await writer.stop()
        await asyncio.to_thread(workflows.close)

    assert rebuilt > 0
    if database_url.startswith("postgresql"):
        assert set(listed) == set(relisted) == {str(fine.id), str(later.id)}
        assert [(f["projection"], f["id"]) for f in reported] == [("workflows", str(refused.id))]
        assert "0x00" in reported[0]["error"] and "INSERT" not in reported[0]["error"]
    else:  # SQLite stores the text as it is
        assert set(listed) == set(relisted) == {str(refused.id), str(fine.id), str(later.id)}
        assert reported == []
