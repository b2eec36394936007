"""The ``mysql`` node (MySQL and MariaDB): a query with bound parameters, or items inserted / upserted /
updated, on a pool per credential; rows come out as items, writes report affected rows and the insert id."""

from __future__ import annotations

import pymysql
from pydantic import Field

from flowtape.common.nodes.sdk import Item, NodeContext, NodeResult, NodeType
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

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: MysqlParams, item: Item) -> NodeResult:
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
