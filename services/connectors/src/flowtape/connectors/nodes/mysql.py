"""The ``mysql`` node (MySQL and MariaDB): a query with bound parameters, or items inserted / upserted /
updated, on a pool per credential; rows come out as items, writes report affected rows and the insert id."""

from __future__ import annotations

from pydantic import Field

from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.sql import (
    MYSQL,
    SQL_RAW_PARAMS,
    SqlParams,
    bound_for_text_drivers,
    query_failed,
    row_of,
    rows_as_items,
    write_statement,
)


class MysqlParams(SqlParams):
    credential: str = Field(min_length=1, description="a mysql credential's id or name")


class MysqlNode(NodeType[MysqlParams]):
    type = "mysql"
    category = "database"
    description = (
        "Query MySQL or MariaDB with bound parameters (%s in the query), or insert, upsert or update the items in "
        "a table; rows are the output items."
    )
    Params = MysqlParams
    raw_params = SQL_RAW_PARAMS
    #: rows and insert ids are the database's answer, not a function of the parameters
    deterministic = False
    examples = (
        NodeExample(
            title="Products running low (credential 'inventory-db'; table products)",
            params={
                "credential": "inventory-db",
                "query": "SELECT sku, name, stock FROM products WHERE stock < %s ORDER BY stock",
                "parameters": ["{{ item.threshold }}"],
            },
            input=[{"threshold": 5}],
            output={
                "main": [
                    {"sku": "MUG-02", "name": "Enamel mug", "stock": 0},
                    {"sku": "TEE-01", "name": "Logo T-shirt", "stock": 3},
                ]
            },
        ),
        NodeExample(
            title="Insert each item as a row (table stock_movements, its id AUTO_INCREMENT)",
            params={"credential": "inventory-db", "operation": "insert", "table": "stock_movements"},
            input=[{"sku": "MUG-02", "quantity": 24, "reason": "restock"}],
            output={"main": [{"affected_rows": 1, "last_insert_id": 1}]},
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: MysqlParams, item: Item) -> NodeResult:
        import pymysql  # the client library loads with the first MySQL node run (see pools.py)

        credential = await ctx.credential(params.credential, "mysql")
        pool = await self._connections.mysql.pool(credential)
        if params.operation == "query":
            assert params.query is not None
            statement, values = params.query, list(params.parameters)
        else:
            statement, values = write_statement(MYSQL, params, row_of(params, item))
        try:
            async with pool.acquire() as conn:
                try:
                    async with conn.cursor() as cursor:
                        # with no values, pass None: otherwise a literal % in the query would be read as a placeholder
                        await cursor.execute(statement, bound_for_text_drivers(values) or None)
                        columns = [column[0] for column in cursor.description or ()]
                        rows = await cursor.fetchall() if columns else ()
                        affected, inserted = cursor.rowcount, cursor.lastrowid
                    await conn.commit()
                except BaseException:
                    await conn.rollback()
                    raise
        except (pymysql.MySQLError, ValueError, TypeError) as exc:
            raise query_failed(MYSQL, exc) from None
        if columns:
            return NodeResult.on(rows_as_items(columns, list(rows)))
        return NodeResult.on([{"affected_rows": affected, "last_insert_id": inserted or None}])
