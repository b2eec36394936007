"""Bulk replay: re-run every run of a workflow that matches a query, a canary first, as a job with progress.

The runs (oldest first) are selected when the job starts. The canary (the first ``canary`` runs) is replayed and
waited for; the rest start only when every canary replay succeeded, at most ``parallelism`` at a time. Each
selected run is replayed at most once: its replay's id is derived from the job and the run, so a replay sent again
names the same fork. A dry run starts nothing: it lists the runs and, for a target version, asks replay-check
which of them it would take down another path.

The job runs on the engine replica that accepted it; its progress is a row in ``engine.replay_jobs`` that every
replica reads. A replica that stops leaves its jobs as they were (``interrupted`` when read after it).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common import views
from flowtape.common.bus import Bus
from flowtape.common.errors import FlowtapeError, NotFound, TimedOut
from flowtape.common.messages import engine as msg
from flowtape.engine.decisions import Clock, Decisions
from flowtape.engine.partitions import LEASE_SECONDS, replicas
from flowtape.engine.projections import SCHEMA, Projections
from flowtape.engine.queries import ExecutionQueries
from flowtape.engine.workflows import Workflows

log = logging.getLogger("flowtape.engine")

#: how long one replay may take before the job stops waiting for it (it is then reported ``running``)
REPLAY_TIMEOUT = 300.0
POLL_SECONDS = 0.25
#: how long a replay's start may take to be confirmed
ASK_TIMEOUT = 30.0
_FINAL: dict[str | None, Literal["succeeded", "failed", "cancelled"]] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
#: the namespace of replay ids: one per job and selected run
_REPLAY_IDS = uuid.UUID("2f6a9d7e-1c4b-4e8a-9b3d-5e7f1a2c4d6b")

metadata = MetaData(schema=SCHEMA)
jobs = Table(
    "replay_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("replica", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("job", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class BulkReplays:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        bus: Bus,
        projections: Projections,
        decisions: Decisions,
        workflows: Workflows,
        queries: ExecutionQueries,
        replica: str,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._projections = projections
        self._decisions = decisions
        self._workflows = workflows
        self._queries = queries
        self._replica = replica
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._saving: dict[str, asyncio.Lock] = {}

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def start(self, command: msg.StartBulkReplay) -> views.BulkReplayJob:
        workflow = await self._workflows.load(command.workflow_id)  # NotFound for a workflow that does not exist
        if isinstance(command.workflow_version, int) and not 1 <= command.workflow_version <= workflow.latest_version:
            raise NotFound(f"workflow {command.workflow_id} has no version {command.workflow_version}")
        selected = await self._select(command)
        items = [
            views.BulkReplayItem(
                source=summary["id"],
                source_version=summary["workflow_version"],
                started_at=summary.get("started_at"),
                phase="canary" if index < command.canary else "rest",
            )
            for index, summary in enumerate(selected)
        ]
        job = views.BulkReplayJob(
            id=str(uuid.uuid4()),
            workflow_id=command.workflow_id,
            project_id=workflow.project_id,
            status=command.status,
            since=command.since.isoformat() if command.since else None,
            from_node=command.from_node,
            workflow_version=command.workflow_version,
            canary=min(command.canary, len(items)),
            parallelism=command.parallelism,
            dry_run=command.dry_run,
            state="running",
            total=len(items),
            items=items,
            created_at=self._clock().isoformat(),
        )
        if command.dry_run:
            await self._plan(job, workflow.latest_version)
            job.state = "planned"
            await self._save(job, insert=True)
            return job
        await self._save(job, insert=True)
        task = asyncio.create_task(self._run(job))
        self._running[job.id] = task
        task.add_done_callback(lambda _: (self._running.pop(job.id, None), self._saving.pop(job.id, None)))
        return job

    async def get(self, job_id: str) -> views.BulkReplayJob:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).mappings().first()
        if row is None:
            raise NotFound(f"bulk replay {job_id} does not exist")
        job = views.BulkReplayJob.model_validate_json(row["job"])
        if job.state == "running" and job_id not in self._running and not await self._alive(row["replica"]):
            job.state = "interrupted"  # the replica running it stopped
        return job

    async def _alive(self, replica: str) -> bool:
        if replica == self._replica:
            return False  # this replica runs no such job any more
        seen_since = self._clock() - timedelta(seconds=LEASE_SECONDS)
        query = select(replicas.c.replica).where(replicas.c.replica == replica, replicas.c.seen_at > seen_since)
        async with self._engine.connect() as conn:
            return await conn.scalar(query) is not None

    # -- selecting and planning ---------------------------------------------------------------------------

    async def _select(self, command: msg.StartBulkReplay) -> list[dict[str, Any]]:
        """The matching runs, oldest first (a bulk replay repeats history in the order it happened)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._projections.list_executions(
                workflow_id=command.workflow_id, status=command.status, limit=500, cursor=cursor
            )
            for item in page["items"]:
                started = item.get("started_at")
                if command.since is None or (started and datetime.fromisoformat(started) >= command.since):
                    found.append(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return sorted(found, key=lambda item: item.get("started_at") or "")

    async def _plan(self, job: views.BulkReplayJob, latest: int) -> None:
        """Say which runs the target version would take down another path (replay-check; no side effects)."""
        if job.workflow_version == "original" or not job.items:
            return
        version = latest if job.workflow_version == "latest" else int(job.workflow_version)
        check = msg.ReplayCheck(workflow_id=job.workflow_id, version=version, limit=10_000)
        report = await self._queries.replay_check(check)
        differing = {
            item["execution_id"]: [difference["node"] for difference in item["differences"]]
            for item in report["executions"]
        }
        for item in job.items:
            item.other_path = differing.get(item.source, [])

    # -- running --------------------------------------------------------------------------------------------

    async def _run(self, job: views.BulkReplayJob) -> None:
        try:
            canary, rest = job.items[: job.canary], job.items[job.canary :]
            await self._replay_all(job, canary)
            if any(item.outcome != "succeeded" for item in canary):
                job.state = "canary_failed"
            else:
                await self._replay_all(job, rest)
                job.state = "succeeded" if all(item.outcome == "succeeded" for item in job.items) else "failed"
        except Exception as exc:
            log.exception("bulk replay %s stopped", job.id)
            job.state = "failed"
            job.error = f"the bulk replay stopped: {exc}"
        job.finished_at = self._clock().isoformat()
        await self._save(job)

    async def _replay_all(self, job: views.BulkReplayJob, items: list[views.BulkReplayItem]) -> None:
        gate = asyncio.Semaphore(job.parallelism)

        async def one(item: views.BulkReplayItem) -> None:
            async with gate:
                await self._replay_one(job, item)
                job.done += 1
                await self._save(job)

        await asyncio.gather(*(one(item) for item in items))

    async def _replay_one(self, job: views.BulkReplayJob, item: views.BulkReplayItem) -> None:
        from_node = job.from_node
        try:
            if from_node is None:
                from_node = (await self._decisions.read(item.source)).first_failed()
            if from_node is None:
                item.outcome, item.note = "skipped", "no failed node to replay from"
                return
            fork_id = uuid.uuid5(_REPLAY_IDS, f"{job.id}:{item.source}")
            replay = msg.ReplayExecution(
                execution_id=item.source, from_node=from_node, workflow_version=job.workflow_version, fork_id=fork_id
            )
            await self._bus.ask(replay, timeout=ASK_TIMEOUT)
        except TimedOut:
            pass  # the fork may still be made (its id is known): its summary tells
        except FlowtapeError as exc:
            item.outcome, item.note = "not_started", exc.message
            return
        item.execution_id = str(fork_id)
        item.outcome = "running"
        await self._save(job)
        started = time.monotonic()
        while time.monotonic() < started + REPLAY_TIMEOUT:
            status = await self._projections.status_of(item.execution_id)
            if status in _FINAL:
                item.outcome = _FINAL[status]
                return
            if status is None and time.monotonic() > started + ASK_TIMEOUT * 2:
                item.outcome, item.note = "not_started", "the engine did not start the replay"
                return
            await asyncio.sleep(POLL_SECONDS)

    async def _save(self, job: views.BulkReplayJob, insert: bool = False) -> None:
        """Write the job as it stands now (one save at a time, so a later state is never overwritten)."""
        async with self._saving.setdefault(job.id, asyncio.Lock()), self._engine.begin() as conn:
            values = {"state": job.state, "job": job.model_dump_json(), "updated_at": self._clock()}
            if insert:
                await conn.execute(jobs.insert().values(id=job.id, replica=self._replica, **values))
            else:
                await conn.execute(update(jobs).where(jobs.c.id == job.id).values(**values))

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
