"""Outcomes of node tasks already run, by idempotency key (execution id + node id + attempt).

A task redelivered after a crash, or dispatched again by a recovering engine, is answered from here instead
of being run twice. The record is written before the outcome is published, so an outcome that may have
reached the engine is always found. Records older than the retention are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import ensure_schema
from flowtape.common.messages.base import decode
from flowtape.common.messages.connectors import NodeTaskCompleted

SCHEMA = "connectors"
metadata = MetaData(schema=SCHEMA)

completed_tasks = Table(
    "completed_tasks",
    metadata,
    Column("idempotency_key", String(400), primary_key=True),
    Column("outcome", Text, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False, index=True),
)


class CompletedTasks:
    def __init__(self, engine: AsyncEngine, retention: timedelta = timedelta(days=7)) -> None:
        self._engine = engine
        # one statement each, atomic on its own: no BEGIN ... COMMIT/ROLLBACK around it (two round trips less
        # on every task, which pays both a read and a write here)
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._retention = retention

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def get(self, key: str) -> NodeTaskCompleted | None:
        async with self._autocommit.connect() as conn:
            raw = await conn.scalar(select(completed_tasks.c.outcome).where(completed_tasks.c.idempotency_key == key))
        if raw is None:
            return None
        message = decode(raw.encode())
        return message if isinstance(message, NodeTaskCompleted) else None

    async def remember(self, key: str, completed: NodeTaskCompleted) -> None:
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(completed_tasks).values(
            idempotency_key=key, outcome=completed.encode().decode(), completed_at=datetime.now(UTC)
        )
        async with self._autocommit.connect() as conn:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=["idempotency_key"]))

    async def forget_old(self) -> int:
        cutoff = datetime.now(UTC) - self._retention
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(completed_tasks).where(completed_tasks.c.completed_at < cutoff))
        return int(result.rowcount or 0)
