"""The ``sqlite`` node: a query with bound parameters, or items written, in a SQLite file of the data
directory's ``sqlite/`` folder. Only a plain file name is taken: a workflow cannot open the service's own
databases or any other file on the machine."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import aiosqlite
from pydantic import Field

from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.sql import (
    SQL_RAW_PARAMS,
    SQLITE,
    SqlParams,
    bound_for_text_drivers,
    query_failed,
    row_of,
    rows_as_items,
    write_statement,
)

_FILE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,120}$"


class SqliteParams(SqlParams):
    database: str = Field(
        pattern=_FILE_NAME,
        description="a file name in the data directory's sqlite/ folder (created on first use), e.g. 'shop.db'",
    )


class SqliteNode(NodeType[SqliteParams]):
    type = "sqlite"
    category = "database"
    description = (
        "Query a SQLite database file with bound parameters (? in the query), or insert, upsert or update the "
        "items in a table; rows are the output items."
    )
    Params = SqliteParams
    raw_params = (*SQL_RAW_PARAMS, "database")
    #: rows are the database's answer, not a function of the parameters
    deterministic = False
    examples = (
        NodeExample(
            title="A customer's orders (database 'shop.db', table orders)",
            params={
                "database": "shop.db",
                "query": "SELECT id, status FROM orders WHERE customer = ? ORDER BY id",
                "parameters": ["{{ item.email }}"],
            },
            input=[{"email": "ada@example.com"}],
            output={"main": [{"id": 7, "status": "paid"}, {"id": 9, "status": "delivered"}]},
        ),
        NodeExample(
            title="Mark an order shipped: update by key, the changed row comes back (database 'shop.db')",
            params={
                "database": "shop.db",
                "operation": "update",
                "table": "orders",
                "key_columns": ["id"],
                "values": {"id": "{{ item.order_id }}", "status": "shipped", "tracking_number": "{{ item.tracking }}"},
            },
            input=[{"order_id": 7, "tracking": "1Z999AA10123456784"}],
            output={
                "main": [
                    {
                        "id": 7,
                        "customer": "ada@example.com",
                        "status": "shipped",
                        "tracking_number": "1Z999AA10123456784",
                    }
                ]
            },
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._open: dict[Path, aiosqlite.Connection] = {}
        self._locks: dict[Path, asyncio.Lock] = {}

    def _path(self, name: str) -> Path:
        if not re.fullmatch(_FILE_NAME, name) or ".." in name:
            raise ValueError("not a plain file name")
        folder = self._connections.data_dir / "sqlite"
        folder.mkdir(parents=True, exist_ok=True)
        return (folder / name).resolve()

    async def run_item(self, ctx: NodeContext, params: SqliteParams, item: Item) -> NodeResult:
        path = self._path(params.database)
        if params.operation == "query":
            assert params.query is not None
            statement, values = params.query, list(params.parameters)
        else:
            statement, values = write_statement(SQLITE, params, row_of(params, item))
        # one connection per file: SQLite has one writer anyway, and the lock keeps transactions apart
        async with self._locks.setdefault(path, asyncio.Lock()):
            conn = self._open.get(path)
            if conn is None:
                conn = await aiosqlite.connect(path)
                self._open[path] = conn
                self._connections.on_close(conn.close)
            try:
                cursor = await conn.execute(statement, bound_for_text_drivers(values))
                columns = [column[0] for column in cursor.description or ()]
                rows = await cursor.fetchall() if columns else []
                affected = cursor.rowcount
                await cursor.close()
                await conn.commit()
            except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
                await conn.rollback()
                raise query_failed(SQLITE, exc) from None
        if columns:
            return NodeResult.on(rows_as_items(columns, list(rows)))
        return NodeResult.on([{"affected_rows": affected}])
