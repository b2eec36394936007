"""Quotas per project (issue 16): runs started per UTC day, runs under way at once, bytes kept in the log.

Platform admins set them (``project_quotas``, in the engine's database, shared by every replica); each replica
reads the whole table at most every :data:`REFRESH_SECONDS`, so a start of a project without quotas costs a dict
lookup and nothing else. A start of a project with quotas is checked against its usage in the read model: a
figure reused for up to :data:`FRESH_SECONDS` while the project is far from every limit (this replica's starts
since are added to it), measured afresh on each start once it comes within half of one, after this replica's
saves have reached the read model and counting the starts it is admitting at that moment. Starts racing on
several replicas at a limit may pass it by a few, as the bound on queued runs may.

The stored bytes of a run are the sizes of its events as the log keeps them (a large body at its size in the
blob store); pruning a run gives its bytes back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.errors import RateLimited
from flowtape.common.views import ProjectQuotas, ProjectUsage, ProjectUsageFigures
from flowtape.engine.decisions import Clock
from flowtape.engine.projections import SCHEMA, Projections

#: how long a replica keeps the quotas it read (another replica's change reaches it within this)
REFRESH_SECONDS = 5.0
#: how long a usage figure far from every limit stands in for a fresh one
FRESH_SECONDS = 1.0
_NONE = ProjectQuotas()

metadata = MetaData(schema=SCHEMA)
quotas = Table(
    "project_quotas",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("executions_per_day", Integer, nullable=True),
    Column("concurrent_runs", Integer, nullable=True),
    Column("stored_bytes", BigInteger, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass
class _Usage:
    today: int
    running: int
    stored: int
    day: datetime
    at: float
    started_since: int = 0


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _near(limit: int | None, value: int) -> bool:
    return limit is not None and value >= limit // 2


class Quotas:
    def __init__(
        self,
        engine: AsyncEngine,
        projections: Projections,
        projected: Callable[[], Awaitable[None]],
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``projected`` waits until this replica's saves have reached the read model."""
        self._engine = engine
        self._projections = projections
        self._projected = projected
        self._clock = clock
        self._monotonic = monotonic
        self._set: dict[str, ProjectQuotas] = {}
        self._read_at: float | None = None
        self._usage: dict[str, _Usage] = {}
        self._admitting: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    # -- setting and reading -----------------------------------------------------------------------------

    async def set(self, project_id: str, limits: ProjectQuotas) -> ProjectUsage:
        row = {"project_id": project_id, **limits.model_dump(), "updated_at": self._clock()}
        async with self._engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            statement = insert(quotas).values(**row)
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["project_id"], set_={k: statement.excluded[k] for k in row if k != "project_id"}
                )
            )
        self._set[project_id] = limits
        self._usage.pop(project_id, None)
        return await self.usage(project_id)

    def forget(self) -> None:
        """Read the quotas and measure usage afresh (after a restore)."""
        self._read_at = None
        self._usage.clear()

    async def of(self, project_id: str) -> ProjectQuotas:
        now = self._monotonic()
        if self._read_at is None or now - self._read_at >= REFRESH_SECONDS:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(quotas))).mappings().all()
            self._set = {
                str(row["project_id"]): ProjectQuotas(
                    executions_per_day=row["executions_per_day"],
                    concurrent_runs=row["concurrent_runs"],
                    stored_bytes=row["stored_bytes"],
                )
                for row in rows
            }
            self._read_at = now
        return self._set.get(project_id, _NONE)

    async def usage(self, project_id: str) -> ProjectUsage:
        """The project's quotas and its usage, measured now."""
        figures = await self._measure(project_id)
        return ProjectUsage(
            project_id=project_id,
            quotas=await self.of(project_id),
            usage=ProjectUsageFigures(
                executions_today=figures.today, concurrent_runs=figures.running, stored_bytes=figures.stored
            ),
            day_started_at=figures.day.isoformat(),
        )

    # -- admitting ---------------------------------------------------------------------------------------

    @asynccontextmanager
    async def admitting(self, project_id: str) -> AsyncIterator[None]:
        """Around a start of one of ``project_id``'s runs: refuses it (RateLimited, naming the quota) when the
        project is at a quota, and counts it as started until the start's events are saved."""
        limits = await self.of(project_id)
        if limits == _NONE:
            yield
            return
        async with self._locks.setdefault(project_id, asyncio.Lock()):
            usage = await self._current(project_id, limits)
            _refuse_beyond(project_id, limits, usage)
            usage.started_since += 1
            self._admitting[project_id] = self._admitting.get(project_id, 0) + 1
        try:
            yield
        finally:
            self._admitting[project_id] -= 1

    async def _current(self, project_id: str, limits: ProjectQuotas) -> _Usage:
        known = self._usage.get(project_id)
        if known is not None and self._monotonic() - known.at < FRESH_SECONDS:
            today, running = known.today + known.started_since, known.running + known.started_since
            far = not (_near(limits.executions_per_day, today) or _near(limits.concurrent_runs, running))
            same_day = known.day == _day_start(self._clock())
            if same_day and far and (limits.stored_bytes is None or known.stored < limits.stored_bytes):
                return known
        await self._projected()
        measured = await self._measure(project_id)
        pending = self._admitting.get(project_id, 0)  # admitted here, their start not saved yet
        measured.today += pending
        measured.running += pending
        self._usage[project_id] = measured
        return measured

    async def _measure(self, project_id: str) -> _Usage:
        day = _day_start(self._clock())
        today, running, stored = await self._projections.project_usage(project_id, day)
        return _Usage(today, running, stored, day, self._monotonic())


def _refuse_beyond(project_id: str, limits: ProjectQuotas, usage: _Usage) -> None:
    today, running = usage.today + usage.started_since, usage.running + usage.started_since
    ask = "or ask a platform admin to raise it"
    if limits.executions_per_day is not None and today >= limits.executions_per_day:
        raise RateLimited(
            f"project {project_id} has started {today} runs today, its quota of executions per day "
            f"({limits.executions_per_day}); try again after midnight UTC {ask}",
            {"quota": "executions_per_day", "project_id": project_id, "limit": limits.executions_per_day},
        )
    if limits.concurrent_runs is not None and running >= limits.concurrent_runs:
        raise RateLimited(
            f"project {project_id} has {running} runs under way, its quota of concurrent runs "
            f"({limits.concurrent_runs}); try again when some have finished {ask}",
            {
                "quota": "concurrent_runs",
                "project_id": project_id,
                "limit": limits.concurrent_runs,
                "retry_after": 5,
            },
        )
    if limits.stored_bytes is not None and usage.stored >= limits.stored_bytes:
        raise RateLimited(
            f"project {project_id}'s runs keep {usage.stored} bytes, its quota of stored execution data "
            f"({limits.stored_bytes} bytes); prune old runs (workflow settings.retention) {ask}",
            {"quota": "stored_bytes", "project_id": project_id, "limit": limits.stored_bytes},
        )
