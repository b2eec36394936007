"""The ``postgres`` node: a query with bound parameters, or items inserted / upserted / updated, on a pool
per credential. Rows come out as items (``RETURNING *`` for writes)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.sql import (
    POSTGRES,
    SQL_RAW_PARAMS,
    SqlParams,
    query_failed,
    row_of,
    rows_as_items,
    write_statement,
)


class PostgresParams(SqlParams):
    credential: str = Field(min_length=1, description="a postgres credential's id or name")


class PostgresNode(NodeType[PostgresParams]):
    """Runs per item; a statement that returns no rows outputs ``{"affected_rows": n}``."""

    type = "postgres"
    category = "database"
    description = (
        "Query PostgreSQL with bound parameters ($1, $2 ... in the query), or insert, upsert or update the items "
        "in a table; rows are the output items."
    )
    Params = PostgresParams
    raw_params = SQL_RAW_PARAMS
    #: rows are the database's answer, not a function of the parameters
    deterministic = False
    examples = (
        NodeExample(
            title="A customer's orders, newest first (credential 'shop-db'; table orders)",
            params={
                "credential": "shop-db",
                "query": "SELECT id, total, status FROM orders WHERE customer_email = $1 ORDER BY id DESC",
                "parameters": ["{{ item.email }}"],
            },
            input=[{"email": "ada@example.com"}],
            output={
                "main": [
                    {"id": 1002, "total": 45.5, "status": "shipped"},
                    {"id": 1001, "total": 19.99, "status": "delivered"},
                ]
            },
        ),
        NodeExample(
            title="Upsert a customer by e-mail, writing only some fields (table customers, email its primary key)",
            params={
                "credential": "shop-db",
                "operation": "upsert",
                "table": "customers",
                "key_columns": ["email"],
                "columns": ["email", "name", "plan"],
            },
            input=[{"email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro", "utm_source": "newsletter"}],
            output={"main": [{"email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro"}]},
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: PostgresParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "postgres")
        pool = await self._connections.postgres.pool(credential)
        if params.operation == "query":
            assert params.query is not None
            statement, values = params.query, list(params.parameters)
        else:
            statement, values = write_statement(POSTGRES, params, row_of(params, item))
        try:
            async with pool.acquire() as conn:
                await _json_codecs(conn)
                prepared = await conn.prepare(statement)
                rows = await prepared.fetch(*values)
                status = prepared.get_statusmsg() or ""
                columns = [attribute.name for attribute in prepared.get_attributes()]
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TypeError) as exc:
            raise query_failed(POSTGRES, exc) from None
        except OSError as exc:
            raise NodeError(f"lost the connection to PostgreSQL: {exc}") from None
        if columns:
            return NodeResult.on(rows_as_items(columns, [tuple(row.values()) for row in rows]))
        return NodeResult.on([{"affected_rows": _affected(status)}])


async def _json_codecs(conn: Any) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _affected(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
