"""Changes to tables that exist already: what ``create_all`` cannot do to a database made by an older version.

Each change is checked for first (a column's presence), so running it again, or on a fresh database, does
nothing; callers hold :func:`~flowtape.common.db.creating` so replicas starting at once make it once.
"""

from __future__ import annotations

from sqlalchemy import Table, inspect
from sqlalchemy.ext.asyncio import AsyncConnection


async def has_column(conn: AsyncConnection, table: Table, column: str) -> bool:
    # on SQLite the schema is translated away, and the inspector does not apply the translation
    schema = table.schema if conn.dialect.name == "postgresql" else None

    def check(sync_conn: object) -> bool:
        columns = inspect(sync_conn).get_columns(table.name, schema=schema)
        return any(found["name"] == column for found in columns)

    return await conn.run_sync(check)


def qualified(conn: AsyncConnection, table: Table) -> str:
    """The table's name as raw DDL must write it on this database."""
    if conn.dialect.name == "postgresql" and table.schema:
        return f'"{table.schema}"."{table.name}"'
    return f'"{table.name}"'
