"""Read models built from the logs: execution summaries and workflow summaries.

They are disposable: each tracks the last notification of its log it applied, in the same transaction as
the rows, so a crash between a save and its projection is repaired by :meth:`Projections.catch_up`, and
:meth:`Projections.rebuild` recreates everything from the logs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Recording
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.common.db import ensure_schema
from flowtape.common.errors import InvalidInput
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.schema_changes import has_column, qualified
from flowtape.engine.blobs import OffloadingMapper
from flowtape.engine.domain.execution import Execution
from flowtape.engine.views import project_in

log = logging.getLogger("flowtape.engine")

SCHEMA = "engine"
metadata = MetaData(schema=SCHEMA)

executions = Table(
    "execution_summaries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workflow_id", String(64), index=True),
    Column("workflow_version", Integer),
    Column("status", String(16), index=True),
    Column("started_at", DateTime(timezone=True), index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("parent_id", String(64), index=True),
    Column("parent_node", String(128)),
    Column("project_id", String(64), nullable=False, server_default=DEFAULT_PROJECT, index=True),
    #: the bytes of the run's events in the log (a large body counted at its size in the blob store), for the
    #: project's stored-data quota; each batch of events adds to it, and pruning the run sets it to 0
    Column("stored_bytes", BigInteger, nullable=False, server_default="0"),
)

#: a column whose upsert adds the new value to the old one rather than replacing it
_ADDED_UP = "stored_bytes"

workflows = Table(
    "workflow_summaries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200)),
    Column("version", Integer),
    Column("active", Boolean),
    Column("deleted", Boolean, index=True),
    Column("created_at", DateTime(timezone=True), index=True),
    Column("updated_at", DateTime(timezone=True)),
    Column("project_id", String(64), nullable=False, server_default=DEFAULT_PROJECT, index=True),
)

#: finish notices the outbox has not published yet: written with the summary, deleted once published
pending_notices = Table(
    "pending_notices",
    metadata,
    Column("execution_id", String(64), primary_key=True),
)

#: StartExecution idempotency keys (webhook retries, schedule fire keys, event triggers)
start_keys = Table(
    "start_keys",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("execution_id", String(64), nullable=False),
)

#: events a read model could not take (text the database refuses, say): reported, while the others go on
failures = Table(
    "projection_failures",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("originator_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("error", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

#: runs retention removed from the log: their summary row stays, this says so (and keeps the error it had)
pruned = Table(
    "pruned_executions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("error", String(2000)),
    Column("pruned_at", DateTime(timezone=True), nullable=False),
    #: the log rows are gone too (false between marking and deleting them)
    Column("purged", Boolean, nullable=False, default=False),
)

positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

_FINAL = ("succeeded", "failed", "cancelled")
_UNFINISHED = ("queued", "running", "waiting", "paused")

_EXECUTION_STATUS = {
    "ExecutionPaused": "waiting",
    "ExecutionResumed": "running",
    "BreakpointReached": "paused",
    "BreakpointReleased": "running",
    "ExecutionQueued": "queued",
    "ExecutionAdmitted": "running",
    "ExecutionHeld": "paused",
    "ExecutionReleased": "running",
    "ExecutionSucceeded": "succeeded",
    "ExecutionFailed": "failed",
    "ExecutionCancelled": "cancelled",
}


def _execution_changes(event: Any) -> dict[str, Any] | None:
    name = type(event).__name__
    if name == "ExecutionStarted":
        return {
            "workflow_id": event.workflow_id,
            "workflow_version": event.workflow_version,
            "status": "running",
            "started_at": event.timestamp,
            "project_id": project_in(event.trigger_meta),
        }
    if name == "ExecutionForked":
        return {"parent_id": event.parent_id, "parent_node": event.node_id}
    status = _EXECUTION_STATUS.get(name)
    if status is None:
        return None
    changes: dict[str, Any] = {"status": status}
    if status in ("succeeded", "failed", "cancelled"):
        changes["finished_at"] = event.timestamp
    return changes


def _workflow_changes(event: Any) -> dict[str, Any] | None:
    name = type(event).__name__
    if name == "WorkflowCreated":
        return {
            "name": event.name,
            "version": 1,
            "active": False,
            "deleted": False,
            "created_at": event.timestamp,
            "updated_at": event.timestamp,
            "project_id": getattr(event, "project_id", None) or DEFAULT_PROJECT,
        }
    if name == "WorkflowVersionSaved":
        return {"name": event.name, "version": event.originator_version, "updated_at": event.timestamp}
    if name == "WorkflowActivated":
        return {"active": True, "updated_at": event.timestamp}
    if name == "WorkflowDeactivated":
        return {"active": False, "updated_at": event.timestamp}
    if name == "WorkflowDeleted":
        return {"active": False, "deleted": True, "updated_at": event.timestamp}
    return None


_VIEWS: dict[str, tuple[Table, Callable[[Any], dict[str, Any] | None]]] = {
    "executions": (executions, _execution_changes),
    "workflows": (workflows, _workflow_changes),
}


def _encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), key]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(key)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the cursor is not one this API handed out; start again without it") from exc


class Projections:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        #: logs being rebuilt: live updates are skipped (the rebuild's catch-up picks their events up)
        self._rebuilding: set[str] = set()

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for table in (executions, workflows):
                await _add_project_column(conn, table)
            await _add_stored_bytes_column(conn)

    async def apply(self, app: Application[Any], recordings: Sequence[Recording[Any]]) -> None:
        """Apply freshly saved events (the LogWriter's callback)."""
        if not recordings:
            return
        size = _sizer(app)
        pairs = [(r.notification.id, r.domain_event, size(r.notification.state)) for r in recordings]
        async with self._lock:
            if app.name in self._rebuilding:
                return
            for careful in (False, True):
                try:
                    async with self._engine.begin() as conn:
                        current = await self._position(conn, app.name)
                        if pairs[0][0] > current + 1:
                            break
                        await self._apply(conn, app.name, [p for p in pairs if p[0] > current], careful=careful)
                    return
                except DBAPIError:
                    if careful:
                        raise
        # events before these were never applied (an earlier update failed): moving the position past them
        # would lose them for good, so read everything after the position from the log instead
        await self.catch_up(app)

    async def catch_up(
        self,
        app: Application[Any],
        progress: Callable[[int, int], None] | None = None,
        batch: int = 500,
        *,
        notify: bool = True,
    ) -> int:
        """Apply whatever the log holds beyond the tracked position; returns how many events were applied."""
        applied = 0
        total = await asyncio.to_thread(app.recorder.max_notification_id) or 0
        while True:
            async with self._lock:
                for careful in (False, True):
                    try:
                        async with self._engine.begin() as conn:
                            start = await self._position(conn, app.name) + 1
                            notifications = await asyncio.to_thread(app.recorder.select_notifications, start, batch)
                            if not notifications:
                                self._rebuilding.discard(app.name)
                                return applied
                            size = _sizer(app)
                            pairs = [(n.id, app.mapper.to_domain_event(n), size(n.state)) for n in notifications]
                            await self._apply(conn, app.name, pairs, notify=notify, careful=careful)
                        break
                    except DBAPIError:
                        if careful:
                            raise
            applied += len(pairs)
            if progress is not None:
                progress(pairs[-1][0], total)

    async def rebuild(self, app: Application[Any], progress: Callable[[int, int], None] | None = None) -> int:
        table, _ = _VIEWS[app.name]
        async with self._lock:
            self._rebuilding.add(app.name)
            async with self._engine.begin() as conn:
                if table is executions:  # pruned runs have no log left to rebuild their summary from
                    await conn.execute(delete(table).where(table.c.id.not_in(select(pruned.c.id))))
                else:
                    await conn.execute(delete(table))
                await conn.execute(delete(positions).where(positions.c.name == app.name))
                await conn.execute(delete(failures).where(failures.c.name == app.name))
        return await self.catch_up(app, progress, notify=False)

    async def _position(self, conn: AsyncConnection, name: str) -> int:
        value = await conn.scalar(select(positions.c.position).where(positions.c.name == name))
        return int(value or 0)

    async def _apply(
        self,
        conn: AsyncConnection,
        name: str,
        pairs: Sequence[tuple[int, Any, int]],
        *,
        notify: bool = True,
        careful: bool = False,
    ) -> None:
        """``notify``: queue finish notices for the outbox (not when rebuilding: those were sent long ago).

        At first all rows go in a few multi-row statements; should the database refuse one, the caller runs
        again ``careful``: row by row, each under a savepoint, the refused ones recorded as failures.
        """
        if not pairs:
            return
        table, changes_of = _VIEWS[name]
        rows: dict[str, dict[str, Any]] = {}
        last_seen: dict[str, int] = {}
        for position, event, size in pairs:
            changes = changes_of(event)
            if table is executions and isinstance(event, Execution.Event):  # each of a run's events adds its bytes
                key = str(event.originator_id)
                row = rows.setdefault(key, {_ADDED_UP: 0})
                row[_ADDED_UP] += size
                if changes is not None:
                    row.update(changes)
                last_seen[key] = position
            elif changes is not None:
                key = str(event.originator_id)
                rows.setdefault(key, {}).update(changes)
                last_seen[key] = position
        if not careful:
            await self._upsert_many(conn, table, [{"id": key, **changes} for key, changes in rows.items()])
            finished = [key for key, changes in rows.items() if changes.get("status") in _FINAL]
            if notify and table is executions and finished:
                await self._upsert_many(
                    conn, pending_notices, [{"execution_id": key} for key in finished], "execution_id"
                )
        else:
            for key, changes in rows.items():
                try:
                    async with conn.begin_nested():
                        await self._apply_row(conn, table, key, changes, notify=notify)
                except DBAPIError as exc:
                    await self._record_failure(conn, name, key, last_seen[key], exc)
        await self._upsert(conn, positions, {"name": name, "position": pairs[-1][0]}, key="name")

    async def _upsert_many(
        self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], key: str = "id"
    ) -> None:
        """One statement per set of columns (rows of one batch usually share one or two)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(sorted(row)), []).append(row)
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for columns, group in groups.items():
            statement = insert(table).values(group)
            updates = _updates(table, statement, columns, key)
            if updates:
                await conn.execute(statement.on_conflict_do_update(index_elements=[key], set_=updates))
            else:
                await conn.execute(statement.on_conflict_do_nothing(index_elements=[key]))

    async def _apply_row(
        self, conn: AsyncConnection, table: Table, key: str, changes: dict[str, Any], *, notify: bool
    ) -> None:
        await self._upsert(conn, table, {"id": key, **changes})
        if notify and table is executions and changes.get("status") in _FINAL:
            await self._upsert(conn, pending_notices, {"execution_id": key}, key="execution_id")

    async def _record_failure(self, conn: AsyncConnection, name: str, key: str, position: int, exc: DBAPIError) -> None:
        # the driver's own message, without the statement and its parameters
        reason = str(exc.orig).strip().splitlines()[0][:400] if exc.orig is not None else type(exc).__name__
        log.error("the %s read model could not take event %d of %s: %s", name, position, key, reason)
        row = {"name": name, "originator_id": key, "position": position, "error": reason, "at": datetime.now(UTC)}
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(failures).values(**row)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["name", "originator_id"],
                set_={column: statement.excluded[column] for column in ("position", "error", "at")},
            )
        )

    async def failures(self, limit: int = 50) -> list[dict[str, Any]]:
        """Events the read models could not take, newest first (an operator fixes the cause and rebuilds)."""
        query = select(failures).order_by(failures.c.at.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {
                "projection": row["name"],
                "id": row["originator_id"],
                "position": row["position"],
                "error": row["error"],
                "at": _iso(row["at"]),
            }
            for row in rows
        ]

    async def _upsert(self, conn: AsyncConnection, table: Table, row: dict[str, Any], key: str = "id") -> None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(table).values(**row)
        updates = _updates(table, statement, row, key)
        if not updates:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=[key]))
            return
        await conn.execute(statement.on_conflict_do_update(index_elements=[key], set_=updates))

    async def list_executions(
        self,
        *,
        workflow_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        project_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        query = select(executions, pruned.c.id.is_not(None).label("pruned")).outerjoin(
            pruned, pruned.c.id == executions.c.id
        )
        if project_ids is not None:
            query = query.where(executions.c.project_id.in_(project_ids))
        if workflow_id:
            query = query.where(executions.c.workflow_id == workflow_id)
        if status:
            query = query.where(executions.c.status == status)
        if cursor:
            at, key = _decode_cursor(cursor)
            query = query.where(
                or_(executions.c.started_at < at, and_(executions.c.started_at == at, executions.c.id < key))
            )
        query = query.order_by(executions.c.started_at.desc(), executions.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        items = [_execution_row(row) for row in rows[:limit]]
        next_cursor = (
            _encode_cursor(rows[limit - 1]["started_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        )
        return {"items": items, "next_cursor": next_cursor}

    async def retention_candidates(self) -> list[dict[str, Any]]:
        """Finished runs not pruned yet, each workflow's newest first."""
        query = (
            select(executions.c.id, executions.c.workflow_id, executions.c.status, executions.c.finished_at)
            .outerjoin(pruned, pruned.c.id == executions.c.id)
            .where(executions.c.status.in_(_FINAL), executions.c.finished_at.is_not(None), pruned.c.id.is_(None))
            .order_by(executions.c.workflow_id, executions.c.finished_at.desc(), executions.c.id.desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{**row, "finished_at": _aware(row["finished_at"])} for row in rows]

    async def mark_pruned(self, rows: list[dict[str, Any]], at: datetime) -> None:
        if not rows:
            return
        async with self._engine.begin() as conn:
            await self._upsert_many(
                conn,
                pruned,
                [
                    {
                        "id": row["id"],
                        "error": (row["error"] or None) and row["error"][:2000],
                        "pruned_at": at,
                        "purged": False,
                    }
                    for row in rows
                ],
            )
            ids = [row["id"] for row in rows]  # their data leaves the log: it counts against no quota
            await conn.execute(executions.update().where(executions.c.id.in_(ids)).values({_ADDED_UP: 0}))

    async def unpurged(self) -> list[str]:
        async with self._engine.connect() as conn:
            return [
                str(i) for i in (await conn.execute(select(pruned.c.id).where(pruned.c.purged.is_(False)))).scalars()
            ]

    async def purged(self, execution_ids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(pruned.update().where(pruned.c.id.in_(execution_ids)).values(purged=True))

    async def pruned_summary(self, execution_id: str) -> dict[str, Any] | None:
        """A pruned run's summary (with its error and when it was pruned), or None if it was not pruned."""
        query = select(executions, pruned.c.error, pruned.c.pruned_at).join(pruned, pruned.c.id == executions.c.id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query.where(executions.c.id == execution_id))).mappings().first()
        if row is None:
            return None
        return {**_execution_row(row), "pruned": True, "error": row["error"], "pruned_at": _iso(row["pruned_at"])}

    async def pending_notices(self) -> list[str]:
        async with self._engine.connect() as conn:
            return [str(row) for row in (await conn.execute(select(pending_notices.c.execution_id))).scalars()]

    async def notices_published(self, execution_ids: list[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(pending_notices).where(pending_notices.c.execution_id.in_(execution_ids)))

    async def execution_for_key(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(start_keys.c.execution_id).where(start_keys.c.key == key))
        return str(value) if value is not None else None

    async def remember_key(self, key: str, execution_id: str) -> None:
        async with self._engine.begin() as conn:
            await self._upsert(conn, start_keys, {"key": key, "execution_id": execution_id}, key="key")

    async def finished_executions(self, workflow_id: str, since: datetime | None, limit: int) -> list[str]:
        query = select(executions.c.id).where(
            executions.c.workflow_id == workflow_id, executions.c.status.in_(("succeeded", "failed", "cancelled"))
        )
        if since is not None:
            query = query.where(executions.c.started_at >= since)
        query = query.order_by(executions.c.started_at.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [str(row) for row in (await conn.execute(query)).scalars().all()]

    async def status_of(self, execution_id: str) -> str | None:
        """The run's status in the read model (None before its first event is projected)."""
        async with self._engine.connect() as conn:
            status = await conn.scalar(select(executions.c.status).where(executions.c.id == execution_id))
        return str(status) if status is not None else None

    async def running_count(self, workflow_id: str) -> int:
        """How many of the workflow's runs are under way (started, neither finished nor parked in a wait)."""
        query = select(func.count()).where(executions.c.workflow_id == workflow_id, executions.c.status == "running")
        async with self._engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def project_usage(self, project_id: str, day_start: datetime) -> tuple[int, int, int]:
        """A project's runs started since ``day_start``, its runs under way, and its runs' stored bytes: one
        query over the project's rows (``project_id`` is indexed)."""
        mine = executions.c.project_id == project_id
        query = select(
            select(func.count()).where(mine, executions.c.started_at >= day_start).scalar_subquery(),
            select(func.count()).where(mine, executions.c.status == "running").scalar_subquery(),
            select(func.coalesce(func.sum(executions.c.stored_bytes), 0)).where(mine).scalar_subquery(),
        )
        async with self._engine.connect() as conn:
            today, running, stored = (await conn.execute(query)).one()
        return int(today or 0), int(running or 0), int(stored or 0)

    async def unfinished_executions(self) -> list[str]:
        query = select(executions.c.id).where(executions.c.status.in_(_UNFINISHED))
        async with self._engine.connect() as conn:
            return [str(row) for row in (await conn.execute(query)).scalars().all()]

    async def children_of(self, execution_id: str) -> list[str]:
        query = select(executions.c.id).where(executions.c.parent_id == execution_id)
        async with self._engine.connect() as conn:
            return [str(row) for row in (await conn.execute(query)).scalars().all()]

    async def project_of_workflow(self, workflow_id: str) -> str | None:
        query = select(workflows.c.project_id).where(workflows.c.id == workflow_id, workflows.c.deleted.is_(False))
        async with self._engine.connect() as conn:
            found = await conn.scalar(query)
        return str(found) if found is not None else None

    async def project_of_execution(self, execution_id: str) -> str | None:
        """A pruned run keeps its summary row, so it still has a project."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(executions.c.project_id).where(executions.c.id == execution_id))
        return str(found) if found is not None else None

    async def active_workflows(self) -> list[str]:
        query = select(workflows.c.id).where(workflows.c.active.is_(True), workflows.c.deleted.is_(False))
        async with self._engine.connect() as conn:
            return [str(row) for row in (await conn.execute(query)).scalars().all()]

    async def list_workflows(
        self, *, limit: int, cursor: str | None, project_ids: list[str] | None = None
    ) -> tuple[list[str], str | None]:
        query = select(workflows.c.id, workflows.c.created_at).where(workflows.c.deleted.is_(False))
        if project_ids is not None:
            query = query.where(workflows.c.project_id.in_(project_ids))
        if cursor:
            at, key = _decode_cursor(cursor)
            query = query.where(
                or_(workflows.c.created_at < at, and_(workflows.c.created_at == at, workflows.c.id < key))
            )
        query = query.order_by(workflows.c.created_at.desc(), workflows.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        next_cursor = _encode_cursor(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None
        return [row[0] for row in rows[:limit]], next_cursor

    async def scan_workflows(
        self, *, limit: int, cursor: str | None, project_ids: list[str] | None = None
    ) -> list[tuple[str, str]]:
        """Workflow ids in list order, each with the cursor that continues after it (for filtered listings)."""
        ids, _ = await self.list_workflows(limit=limit, cursor=cursor, project_ids=project_ids)
        if not ids:
            return []
        query = select(workflows.c.id, workflows.c.created_at).where(workflows.c.id.in_(ids))
        async with self._engine.connect() as conn:
            created = {row[0]: row[1] for row in (await conn.execute(query)).all()}
        return [(workflow_id, _encode_cursor(created[workflow_id], workflow_id)) for workflow_id in ids]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _updates(table: Table, statement: Any, columns: Iterable[str], key: str) -> dict[str, Any]:
    """What an upsert sets on a row that exists: each column's new value (stored bytes: added to the old)."""
    return {
        column: table.c[column] + statement.excluded[column] if column == _ADDED_UP else statement.excluded[column]
        for column in columns
        if column != key
    }


def _sizer(app: Application[Any]) -> Callable[[bytes], int]:
    """How many bytes an event's stored state stands for, by the log's mapper (which knows offloaded bodies)."""
    mapper = app.mapper
    return mapper.stored_size if isinstance(mapper, OffloadingMapper) else len


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _execution_row(row: Any) -> dict[str, Any]:
    return {
        "pruned": bool(row.get("pruned")),
        "id": row["id"],
        "workflow_id": row["workflow_id"],
        "workflow_version": row["workflow_version"],
        "status": row["status"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "parent": {"execution_id": row["parent_id"], "node": row["parent_node"]} if row["parent_id"] else None,
        "project_id": row.get("project_id") or DEFAULT_PROJECT,
    }


async def _add_project_column(conn: AsyncConnection, table: Table) -> None:
    """A read model made before projects gets its ``project_id`` column, every row in the default project
    (their logs say nothing of projects either: a rebuild gives the same)."""
    if await has_column(conn, table, "project_id"):
        return
    name = qualified(conn, table)
    await conn.execute(
        text(f"ALTER TABLE {name} ADD COLUMN project_id VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_PROJECT}'")
    )
    await conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table.name}_project_id ON {name} (project_id)"))


async def _add_stored_bytes_column(conn: AsyncConnection) -> None:
    """A read model made before quotas counts no bytes for its runs until it is rebuilt
    (``flowtape admin rebuild-projections``), which counts every event still in the log."""
    if not await has_column(conn, executions, _ADDED_UP):
        await conn.execute(
            text(f"ALTER TABLE {qualified(conn, executions)} ADD COLUMN {_ADDED_UP} BIGINT NOT NULL DEFAULT 0")
        )
