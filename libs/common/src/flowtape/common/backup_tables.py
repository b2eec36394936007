"""A service's side of backup and restore: the rows of its own tables, read and written a chunk at a time.

The tables are found by reflection (every table of the service's schema, or of its SQLite file), less those it
names as not worth keeping (leases, caches, sessions, records of messages in flight), so a table added later is
backed up without anyone remembering to. Values travel as JSON: bytes as ``{"$b": base64}``, times as
``{"$t": iso}``, UUIDs as ``{"$u": text}``. After a restore, PostgreSQL sequences are moved past the restored ids.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.errors import InvalidInput
from flowtape.common.messages import backups
from flowtape.common.messages.backups import ServiceDataChunk
from flowtape.common.messages.base import Message


def _encoded(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime | date):
        return {"$t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoded(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "$b":
            return base64.b64decode(inner)
        if key == "$t":
            return datetime.fromisoformat(inner)
        if key == "$u":
            return uuid.UUID(inner)
    return value


@dataclass
class DataSource:
    """One database of a service (most have one; the embedded engine's log is a SQLite file of its own)."""

    engine: AsyncEngine
    #: the PostgreSQL schema its tables are in (ignored on SQLite)
    schema: str
    prefix: str = ""
    skip: frozenset[str] = field(default_factory=frozenset)
    #: tables that refuse deletes (the audit log): a restore appends to them, under new ids
    append_only: frozenset[str] = field(default_factory=frozenset)

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def tables(self) -> list[Table]:
        metadata = MetaData()
        schema = None if self.sqlite else self.schema
        async with self.engine.connect() as conn:
            await conn.run_sync(lambda sync: metadata.reflect(sync, schema=schema))
        found = [table for table in metadata.sorted_tables if table.name not in self.skip]
        return [table for table in found if not table.name.startswith("sqlite_")]


class TableBackup:
    """Every table of ``sources``, in a stable order, read and written by name (``<prefix><table>``)."""

    def __init__(self, service: str, sources: Iterable[DataSource]) -> None:
        self._service = service
        self._sources = list(sources)

    async def _tables(self) -> list[tuple[str, DataSource, Table]]:
        named = []
        for source in self._sources:
            for table in await source.tables():
                named.append((source.prefix + table.name, source, table))
        return named

    async def export(self, table_index: int, offset: int, limit: int) -> ServiceDataChunk:
        tables = await self._tables()
        if table_index >= len(tables):
            return ServiceDataChunk(service=self._service, tables=len(tables))
        name, source, table = tables[table_index]
        order = list(table.primary_key.columns) or list(table.columns)
        query = select(table).order_by(*order).offset(offset).limit(limit)
        async with source.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        encoded = [{key: _encoded(value) for key, value in row.items()} for row in rows]
        more = len(rows) == limit
        return ServiceDataChunk(
            service=self._service,
            table=name,
            rows=encoded,
            next_table_index=table_index if more else table_index + 1,
            next_offset=offset + len(rows) if more else 0,
            tables=len(tables),
        )

    async def count(self, names: Iterable[str]) -> dict[str, int]:
        """Rows in each of the named tables that exist here."""
        wanted = set(names)
        counts = {}
        for name, source, table in await self._tables():
            if name in wanted:
                async with source.engine.connect() as conn:
                    counts[name] = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
        return counts

    async def import_rows(self, name: str, rows: list[dict[str, Any]], first: bool) -> int:
        found = {table_name: (source, table) for table_name, source, table in await self._tables()}
        if name not in found:
            raise InvalidInput(
                f"the backup has a table {name!r} the {self._service} service does not have: "
                "was it made by another version of Flowtape?"
            )
        source, table = found[name]
        columns = {column.name for column in table.columns}
        unknown = {key for row in rows for key in row} - columns
        if unknown:
            raise InvalidInput(f"the backup's rows of {name!r} have columns this version lacks: {sorted(unknown)}")
        appended = table.name in source.append_only
        if appended:
            keys = {column.name for column in table.primary_key.columns}
            rows = [{key: value for key, value in row.items() if key not in keys} for row in rows]
        async with source.engine.begin() as conn:
            if first and not appended:
                await conn.execute(delete(table))
            if rows:
                await conn.execute(
                    table.insert(), [{key: _decoded(value) for key, value in row.items()} for row in rows]
                )
        return len(rows)

    async def finish(self) -> None:
        """Move every PostgreSQL sequence of the restored tables past the largest id restored."""
        for source in self._sources:
            if source.sqlite:
                continue
            query = text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND column_default LIKE 'nextval%'"
            )
            async with source.engine.begin() as conn:
                serials = (await conn.execute(query, {"schema": source.schema})).all()
                for table_name, column in serials:
                    qualified = f'"{source.schema}"."{table_name}"'
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                            f'COALESCE((SELECT MAX("{column}") FROM {qualified}), 0) + 1, false)'
                        ),
                        {"table": qualified, "column": column},
                    )


class ServiceBackup:
    """What a service answers to backup and restore: its tables, whether it is empty, and what to redo after.

    ``watched`` names the tables that make a service "not empty", with how many rows each may hold anyway (auth
    keeps the admin who runs the restore) and what a row is called in the answer.
    """

    def __init__(
        self,
        service: str,
        tables: TableBackup,
        watched: dict[str, tuple[str, int]],
        after_restore: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._service = service
        self._tables = tables
        self._watched = watched
        self._after_restore = after_restore

    async def export(self, query: backups.ExportServiceData) -> ServiceDataChunk:
        return await self._tables.export(query.table_index, query.offset, query.limit)

    async def emptiness(self) -> backups.ServiceEmptiness:
        counts = await self._tables.count(self._watched)
        holds = [
            f"{count} {self._watched[name][0]}"
            for name, count in sorted(counts.items())
            if count > self._watched[name][1]
        ]
        return backups.ServiceEmptiness(service=self._service, empty=not holds, holds=holds)

    async def import_rows(self, command: backups.ImportServiceData) -> dict[str, Any]:
        return {
            "table": command.table,
            "rows": await self._tables.import_rows(command.table, command.rows, command.first),
        }

    async def finish(self) -> dict[str, Any]:
        await self._tables.finish()
        if self._after_restore is not None:
            await self._after_restore()
        return {"service": self._service, "restored": True}

    def handlers(self) -> dict[type[Message], Callable[[Any], Awaitable[Any]]]:
        """The bus handlers, for the service's requests queue (the topology routes them there by ``service``)."""

        async def export(query: backups.ExportServiceData) -> Any:
            return await self.export(query)

        async def check(_: backups.CheckServiceEmpty) -> Any:
            return await self.emptiness()

        async def load(command: backups.ImportServiceData) -> Any:
            return await self.import_rows(command)

        async def finish(_: backups.FinishServiceRestore) -> Any:
            return await self.finish()

        return {
            backups.ExportServiceData: export,
            backups.CheckServiceEmpty: check,
            backups.ImportServiceData: load,
            backups.FinishServiceRestore: finish,
        }
