"""Admission of runs: per-workflow concurrency limits and the pause of runs (the kill switch), across replicas.

A workflow's runs are spread over every partition, so no replica sees them all: the count lives in the engine's
database. A start of a workflow with ``settings.max_concurrent_runs`` (or any start while its runs are paused)
takes a row in ``run_admissions``, ``running`` when there is room and ``queued`` otherwise, in one transaction
that first locks the workflow's row in ``run_gates`` (an upsert, so ``SELECT ... FOR UPDATE`` semantics on
PostgreSQL; SQLite has one writer, and a process lock covers the embedded platform). When such a run finishes
its row goes and the oldest queued rows get the room, in the order their starts came (``seq``); each admitted
run is sent :class:`~flowtape.common.messages.engine.AdmitExecution` on its partition. Runs of workflows
without a limit, while nothing is paused, never touch these tables.

:meth:`Admissions.reconcile` repairs what a crash leaves between the database and the logs (a row whose run
finished or never got saved, an admission whose message was lost); the replica deciding partition 0 runs it
every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.engine.decisions import Clock
from flowtape.engine.projections import SCHEMA, executions

log = logging.getLogger("flowtape.engine")

#: the pause of every workflow's runs
ALL = "*"
#: a row whose run left no summary this long after it was taken belongs to a start that never got saved
ORPHAN_SECONDS = 60.0

metadata = MetaData(schema=SCHEMA)
gates = Table(
    "run_gates",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("max_running", Integer, nullable=True),
)
admissions = Table(
    "run_admissions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(64), nullable=False, unique=True),
    Column("workflow_id", String(64), nullable=False, index=True),
    Column("state", String(8), nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
)
pauses = Table(
    "run_pauses",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("paused_at", DateTime(timezone=True), nullable=False),
)

#: sends AdmitExecution to each run admitted (through the outbox)
Admit = Callable[[list[str]], Awaitable[None]]


class Admissions:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    def _lock(self, workflow_id: str) -> asyncio.Lock:
        return self._locks.setdefault(workflow_id, asyncio.Lock())

    # -- pauses ---------------------------------------------------------------------------------------------

    async def paused(self) -> frozenset[str]:
        """The paused scopes: workflow ids, and :data:`ALL` when every workflow's runs are paused."""
        async with self._engine.connect() as conn:
            return frozenset(str(scope) for scope in (await conn.execute(select(pauses.c.scope))).scalars())

    async def set_paused(self, scope: str, paused: bool) -> None:
        async with self._engine.begin() as conn:
            if paused:
                insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                await conn.execute(insert(pauses).values(scope=scope, paused_at=self._clock()).on_conflict_do_nothing())
            else:
                await conn.execute(delete(pauses).where(pauses.c.scope == scope))

    # -- admitting ------------------------------------------------------------------------------------------

    async def enter(self, workflow_id: str, execution_id: str, limit: int | None) -> str | None:
        """Take a row for a new run: None when it may begin now, else why it queues. Only for runs of a
        workflow with a limit, or while its runs are paused (see :meth:`gated`)."""
        async with self._lock(workflow_id), self._engine.begin() as conn:
            await self._lock_gate(conn, workflow_id, limit)
            paused = await self._is_paused(conn, workflow_id)
            taken = await conn.scalar(select(admissions.c.state).where(admissions.c.execution_id == execution_id))
            if taken is not None:  # the same start again (a redelivery, or a retry after a crash): its row stands
                admitted = taken == "running"
            else:
                running = await self._running(conn, workflow_id)
                admitted = not paused and (limit is None or running < limit)
                await conn.execute(
                    admissions.insert().values(
                        execution_id=execution_id,
                        workflow_id=workflow_id,
                        state="running" if admitted else "queued",
                        taken_at=self._clock(),
                    )
                )
        if admitted:
            return None
        if paused:
            return "the workflow's runs are paused"
        return f"the workflow runs at most {limit} at once (settings.max_concurrent_runs)"

    @staticmethod
    def gated(workflow_id: str, limit: int | None, paused: frozenset[str]) -> bool:
        """Whether a start of ``workflow_id`` goes through :meth:`enter`: it has a limit, or its runs are paused.

        ``paused`` is the replica's copy of the paused scopes (:attr:`Decisions.paused`), not a query: the
        replica that pauses updates it at once, the others on the broadcast that follows (and every few seconds
        in case one was lost), so a start on another replica within that moment still begins."""
        return limit is not None or ALL in paused or workflow_id in paused

    async def leave(self, workflow_id: str, execution_id: str) -> list[str]:
        """A run finished: free its row and admit the oldest queued runs that now have room."""
        async with self._lock(workflow_id), self._engine.begin() as conn:
            await self._lock_gate(conn, workflow_id)
            await conn.execute(delete(admissions).where(admissions.c.execution_id == execution_id))
            return await self._admit(conn, workflow_id)

    async def admit_queued(self, workflow_id: str | None = None) -> list[str]:
        """Admit what has room, for one workflow or all that have queued runs (after a resume)."""
        if workflow_id is not None:
            workflow_ids = [workflow_id]
        else:
            async with self._engine.connect() as conn:
                query = select(admissions.c.workflow_id).where(admissions.c.state == "queued").distinct()
                workflow_ids = [str(w) for w in (await conn.execute(query)).scalars()]
        admitted: list[str] = []
        for workflow in workflow_ids:
            async with self._lock(workflow), self._engine.begin() as conn:
                await self._lock_gate(conn, workflow)
                admitted += await self._admit(conn, workflow)
        return admitted

    async def is_admitted(self, execution_id: str) -> bool:
        async with self._engine.connect() as conn:
            state = await conn.scalar(select(admissions.c.state).where(admissions.c.execution_id == execution_id))
        return state == "running"

    async def reconcile(self) -> list[str]:
        """Free rows whose run finished (a crash before :meth:`leave`) or was never saved; then admit what has
        room, and name again the admitted runs still queued in their logs (an admission message lost)."""
        cutoff = self._clock() - timedelta(seconds=ORPHAN_SECONDS)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(admissions.c.execution_id, admissions.c.state, admissions.c.taken_at, executions.c.status)
                    .select_from(admissions.outerjoin(executions, executions.c.id == admissions.c.execution_id))
                    .where(admissions.c.state == "running")
                )
            ).all()
        gone = [
            row.execution_id
            for row in rows
            if row.status in ("succeeded", "failed", "cancelled")
            or (row.status is None and _aware(row.taken_at) < cutoff)
        ]
        stuck = [row.execution_id for row in rows if row.status == "queued"]
        if gone:
            log.info("freeing %d admission(s) of runs that finished or never started", len(gone))
            async with self._engine.begin() as conn:
                await conn.execute(delete(admissions).where(admissions.c.execution_id.in_(gone)))
        return stuck + await self.admit_queued()

    async def _lock_gate(self, conn: AsyncConnection, workflow_id: str, limit: int | None = None) -> None:
        """Lock the workflow's gate row until the transaction ends (created on first use); a start records the
        limit of the version it runs, which then bounds the admissions that follow."""
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(gates).values(workflow_id=workflow_id, max_running=limit)
        if limit is not None:
            await conn.execute(
                statement.on_conflict_do_update(index_elements=["workflow_id"], set_={"max_running": limit})
            )
        else:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=["workflow_id"]))
            await conn.execute(select(gates.c.workflow_id).where(gates.c.workflow_id == workflow_id).with_for_update())

    async def _is_paused(self, conn: AsyncConnection, workflow_id: str) -> bool:
        found = await conn.scalar(select(func.count()).where(pauses.c.scope.in_((ALL, workflow_id))))
        return bool(found)

    async def _running(self, conn: AsyncConnection, workflow_id: str) -> int:
        query = select(func.count()).where(admissions.c.workflow_id == workflow_id, admissions.c.state == "running")
        return int(await conn.scalar(query) or 0)

    async def _admit(self, conn: AsyncConnection, workflow_id: str) -> list[str]:
        if await self._is_paused(conn, workflow_id):
            return []
        limit = await conn.scalar(select(gates.c.max_running).where(gates.c.workflow_id == workflow_id))
        room = None if limit is None else int(limit) - await self._running(conn, workflow_id)
        if room is not None and room <= 0:
            return []
        query = (
            select(admissions.c.seq, admissions.c.execution_id)
            .where(admissions.c.workflow_id == workflow_id, admissions.c.state == "queued")
            .order_by(admissions.c.seq)
        )
        if room is not None:
            query = query.limit(room)
        rows = (await conn.execute(query)).all()
        if rows:
            await conn.execute(
                update(admissions).where(admissions.c.seq.in_([row.seq for row in rows])).values(state="running")
            )
        return [str(row.execution_id) for row in rows]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
