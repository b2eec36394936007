"""The triggers service's own tables (schema ``triggers``): registrations, and the fire keys that make a tick
fire once however many replicas see it.

A fire is claimed by inserting ``(workflow_id, fire_key)``: the primary key lets exactly one replica's insert
through (``ON CONFLICT DO NOTHING``). The claimed fire also holds the ``StartExecution`` it stands for, marked
published once the broker has it, so a replica that dies between the two is relayed by another (an outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.common.db import creating, ensure_schema
from flowtape.common.errors import Conflict
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.schema_changes import has_column, qualified
from flowtape.triggers.domain.registration import Registration

SCHEMA = "triggers"
metadata = MetaData(schema=SCHEMA)

registrations = Table(
    "registrations",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    #: the server default puts registrations made before projects (and restored from such backups) in the default
    Column("project_id", String(64), nullable=False, server_default=DEFAULT_PROJECT),
    Column("kind", String(16), nullable=False, index=True),
    Column("node_id", String(128), nullable=False),
    #: "<METHOD> <path>" of a webhook, NULL otherwise: unique, so two workflows cannot serve one route
    Column("route_key", String(600), unique=True),
    Column("params", JSON, nullable=False),
    Column("respond_nodes", JSON, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("last_tick_at", DateTime(timezone=True)),
    Column("last_fired_at", DateTime(timezone=True)),
)

fires = Table(
    "fires",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("fire_key", String(200), primary_key=True),
    Column("fired_at", DateTime(timezone=True), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("published_at", DateTime(timezone=True)),
)


def _registration(row: Any) -> Registration:
    return Registration(
        workflow_id=row.workflow_id,
        version=row.version,
        kind=row.kind,
        node_id=row.node_id,
        params=dict(row.params),
        respond_nodes=tuple(row.respond_nodes or ()),
        registered_at=_aware(row.registered_at),
        last_tick_at=_aware(row.last_tick_at),
        last_fired_at=_aware(row.last_fired_at),
        project_id=row.project_id,
    )


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class TriggerStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with creating(self._engine, "triggers.registrations"), self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            if not await has_column(conn, registrations, "project_id"):
                table = qualified(conn, registrations)
                await conn.execute(
                    text(f"ALTER TABLE {table} ADD COLUMN project_id VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_PROJECT}'")
                )

    # -- registrations -----------------------------------------------------------------------------------

    async def all(self, project_ids: list[str] | None = None) -> list[Registration]:
        """Every registration, or only those of ``project_ids``' workflows."""
        query = select(registrations).order_by(registrations.c.workflow_id)
        if project_ids is not None:
            query = query.where(registrations.c.project_id.in_(project_ids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_registration(row) for row in rows]

    async def get(self, workflow_id: str) -> Registration | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(registrations).where(registrations.c.workflow_id == workflow_id))).first()
        return _registration(row) if row is not None else None

    async def by_route(self, key: str) -> Registration | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(registrations).where(registrations.c.route_key == key))).first()
        return _registration(row) if row is not None else None

    async def put(self, registration: Registration, now: datetime) -> Registration:
        """Insert or replace a workflow's registration; Conflict when another workflow holds its webhook route.

        A replacement with the same trigger parameters keeps its schedule history (``registered_at``,
        ``last_tick_at``), so saving a new version of a scheduled workflow neither skips nor repeats a tick.
        """
        async with self._engine.begin() as conn:
            await self._refuse_taken_route(conn, registration)
            row = (
                await conn.execute(select(registrations).where(registrations.c.workflow_id == registration.workflow_id))
            ).first()
            previous = _registration(row) if row is not None else None
            keep = previous is not None and previous.same_trigger(registration)
            registered_at = previous.registered_at if keep and previous else now
            last_tick_at = previous.last_tick_at if keep and previous else None
            last_fired_at = previous.last_fired_at if previous else None
            values: dict[str, Any] = {
                "version": registration.version,
                "project_id": registration.project_id,
                "kind": registration.kind,
                "node_id": registration.node_id,
                "route_key": registration.route_key,
                "params": registration.params,
                "respond_nodes": list(registration.respond_nodes),
                "registered_at": registered_at,
                "last_tick_at": last_tick_at,
                "last_fired_at": last_fired_at,
            }
            try:
                if previous is None:
                    await conn.execute(registrations.insert().values(workflow_id=registration.workflow_id, **values))
                else:
                    await conn.execute(
                        update(registrations)
                        .where(registrations.c.workflow_id == registration.workflow_id)
                        .values(**values)
                    )
            except IntegrityError:
                # another replica registered the same route between our check and our write
                raise self._conflict(registration) from None
        return Registration(
            workflow_id=registration.workflow_id,
            version=registration.version,
            kind=registration.kind,
            node_id=registration.node_id,
            params=registration.params,
            respond_nodes=registration.respond_nodes,
            registered_at=registered_at,
            last_tick_at=last_tick_at,
            last_fired_at=last_fired_at,
            project_id=registration.project_id,
        )

    async def _refuse_taken_route(self, conn: AsyncConnection, registration: Registration) -> None:
        key = registration.route_key
        if key is None:
            return
        holder = (
            await conn.execute(
                select(registrations.c.workflow_id).where(
                    registrations.c.route_key == key, registrations.c.workflow_id != registration.workflow_id
                )
            )
        ).scalar()
        if holder is not None:
            raise self._conflict(registration, holder)

    @staticmethod
    def _conflict(registration: Registration, holder: str | None = None) -> Conflict:
        hook = registration.webhook
        return Conflict(
            f"{hook.method} /hooks/{hook.path} is already served by another active workflow"
            + (f" ({holder})" if holder else "")
            + "; deactivate it or choose another path",
            details={"method": hook.method, "path": hook.path, "workflow_id": holder},
        )

    async def remove(self, workflow_id: str) -> Registration | None:
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(registrations).where(registrations.c.workflow_id == workflow_id))).first()
            if row is None:
                return None
            await conn.execute(delete(registrations).where(registrations.c.workflow_id == workflow_id))
        return _registration(row)

    # -- fires -------------------------------------------------------------------------------------------

    async def claim(
        self, workflow_id: str, fire_key: str, message: str, now: datetime, tick: datetime | None = None
    ) -> bool:
        """True for the one caller whose insert of this fire key went through; it then publishes."""
        async with self._engine.begin() as conn:
            inserted = await conn.execute(
                self._insert(fires)
                .values(workflow_id=workflow_id, fire_key=fire_key, fired_at=now, message=message)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount != 1:
                return False
            changes: dict[str, Any] = {"last_fired_at": now}
            query = update(registrations).where(registrations.c.workflow_id == workflow_id)
            if tick is not None:
                changes["last_tick_at"] = tick
                query = query.where(or_(registrations.c.last_tick_at.is_(None), registrations.c.last_tick_at < tick))
            await conn.execute(query.values(**changes))
        return True

    async def published(self, workflow_id: str, fire_key: str, now: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(fires)
                .where(fires.c.workflow_id == workflow_id, fires.c.fire_key == fire_key)
                .values(published_at=now)
            )

    async def unpublished(self, older_than: datetime, limit: int = 100) -> Sequence[Any]:
        """Claimed fires whose message never reached the broker (their claimer died in between)."""
        query = (
            select(fires.c.workflow_id, fires.c.fire_key, fires.c.message)
            .where(fires.c.published_at.is_(None), fires.c.fired_at < older_than)
            .order_by(fires.c.fired_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def prune(self, before: datetime) -> int:
        """Forget published fires older than ``before``: no replica can still be deciding those ticks."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(fires).where(fires.c.fired_at < before, fires.c.published_at.is_not(None))
            )
        return int(result.rowcount or 0)

    async def fire_keys(self, workflow_id: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(fires.c.fire_key).where(fires.c.workflow_id == workflow_id).order_by(fires.c.fire_key)
            )
            return [str(key) for key in rows.scalars().all()]
