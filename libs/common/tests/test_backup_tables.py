"""A service's tables through backup and restore: every value type round-trips, skipped tables stay out, an
append-only table is appended to, sequences move past restored ids, and a table or column this version lacks is
refused clearly. On SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.backup_tables import DataSource, TableBackup
from flowtape.common.db import async_engine, ensure_schema
from flowtape.common.errors import InvalidInput
from tests.infra import postgres_database

SCHEMA = "svc"


def _tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    things = Table(
        "things",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("blob", LargeBinary, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("flag", Boolean, nullable=False),
        Column("name", String(40)),
    )
    log = Table(
        "log",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
        Column("what", String(40)),
    )
    leases = Table("leases", metadata, Column("id", Integer, primary_key=True))
    return things, log, leases


@pytest.fixture(scope="module")
def postgres_url() -> AsyncIterator[str]:
    with postgres_database("flowtape_test_backup_tables") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    if request.param == "sqlite":
        urls = [f"sqlite:///{(tmp_path / f'{name}.db').resolve()}" for name in ("a", "b")]
        engines = [async_engine(url, SCHEMA) for url in urls]
    else:
        url = request.getfixturevalue("postgres_url")
        engines = [async_engine(url, SCHEMA), async_engine(url, SCHEMA + "_b")]
    for engine, schema in zip(engines, (SCHEMA, SCHEMA + "_b"), strict=True):
        if request.param == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await ensure_schema(engine, schema)
        metadata = MetaData(schema=schema if request.param == "postgresql" else None)
        _tables(metadata)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    try:
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            await engine.dispose()


def _schema(engine: AsyncEngine, name: str) -> str | None:
    return None if engine.dialect.name == "sqlite" else name


async def test_rows_round_trip_into_another_database(databases: tuple[AsyncEngine, AsyncEngine]) -> None:
    source_db, target_db = databases
    things, log, _ = _tables(MetaData(schema=_schema(source_db, SCHEMA)))
    row = {"id": uuid.uuid4(), "blob": b"\x00\xff", "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "flag": True}
    async with source_db.begin() as conn:
        await conn.execute(insert(things), [{**row, "name": None}])
        await conn.execute(insert(log), [{"what": "from the backup"}, {"what": "second"}])
    target_things, target_log, _ = _tables(MetaData(schema=_schema(target_db, SCHEMA + "_b")))
    async with target_db.begin() as conn:
        await conn.execute(insert(target_log), [{"what": "the target's own"}])
    skip = frozenset({"leases"})
    source = TableBackup("svc", [DataSource(source_db, SCHEMA, skip=skip)])
    target = TableBackup("svc", [DataSource(target_db, SCHEMA + "_b", skip=skip, append_only=frozenset({"log"}))])

    chunks, index, offset = [], 0, 0
    while True:
        chunk = await source.export(index, offset, limit=1)
        if chunk.table is None:
            break
        chunks.append(chunk)
        index, offset = chunk.next_table_index or 0, chunk.next_offset
    assert {chunk.table for chunk in chunks} == {"things", "log"}, "skipped tables stay out"
    seen: set[str] = set()
    for chunk in chunks:
        assert chunk.table is not None
        await target.import_rows(chunk.table, chunk.rows, chunk.table not in seen)
        seen.add(chunk.table)
    await target.finish()

    async with target_db.connect() as conn:
        restored = (await conn.execute(select(target_things))).mappings().one()
        logged = (await conn.execute(select(target_log.c.what).order_by(target_log.c.id))).scalars().all()
    at = restored["at"] if restored["at"].tzinfo else restored["at"].replace(tzinfo=UTC)  # SQLite keeps no zone
    assert {**{key: restored[key] for key in row}, "at": at} == row and restored["name"] is None
    assert logged == ["the target's own", "from the backup", "second"], "an append-only table is appended to"
    async with target_db.begin() as conn:
        await conn.execute(insert(target_log), [{"what": "after"}])  # the sequence is past every restored id

    with pytest.raises(InvalidInput, match="does not have"):
        await target.import_rows("gone", [], True)
    with pytest.raises(InvalidInput, match="columns this version lacks"):
        await target.import_rows("things", [{"id": {"$u": str(uuid.uuid4())}, "colour": "red"}], False)
