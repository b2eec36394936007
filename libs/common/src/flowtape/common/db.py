"""SQLAlchemy async engines for a service's own tables, on PostgreSQL (asyncpg) or SQLite (aiosqlite).

Each service keeps its tables in a schema named after it; on SQLite (one file per service) the schema is
translated away, so the same table definitions serve both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def async_engine(url: str, schema: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """``pre_ping`` False saves a round trip per checkout, for callers that survive a statement meeting a
    connection the database closed (SQLAlchemy then drops the pool's connections, and the next use reconnects)."""
    parsed = make_url(url)
    if is_sqlite(url):
        engine = create_async_engine(parsed.set(drivername="sqlite+aiosqlite"))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine.execution_options(schema_translate_map={schema: None})
    return create_async_engine(
        parsed.set(drivername="postgresql+asyncpg"), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
    )


def _sqlite_pragmas(connection: object, _record: object) -> None:
    """WAL with ``synchronous=NORMAL``: a commit appends to the log instead of rewriting and syncing a rollback
    journal (several fsyncs a commit, on every task a connector records), and readers never wait for the
    writer. A commit survives a crash of the process; only a power loss can take the last few back."""
    cursor = connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


async def ensure_schema(engine: AsyncEngine, schema: str) -> None:
    """Create the service's schema unless it exists (checked first: a least-privileged role may not CREATE)."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema})
            if not exists:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


@asynccontextmanager
async def creating(engine: AsyncEngine, what: str) -> AsyncIterator[None]:
    """Hold a PostgreSQL advisory lock named ``what`` while a replica creates its tables: replicas starting
    at once (a rollout, ``--scale engine=3``) would otherwise race on ``CREATE ... IF NOT EXISTS`` and
    ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently updated"). A no-op on SQLite (one process)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(hashtext(:what))"), {"what": what})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:what))"), {"what": what})
            await conn.commit()


async def ping(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; Flowtape writes them in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
