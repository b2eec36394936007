"""The SQL nodes against real PostgreSQL, MariaDB and SQLite: bound parameters only, so hostile item data
stays data; items written by insert / upsert / update; rows as items; one pool per credential."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, NodeContext, NodeType, execute_node
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.mysql import MysqlNode
from flowtape.connectors.nodes.postgres import PostgresNode
from flowtape.connectors.nodes.sqlite import SqliteNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, credential, mariadb_database
from tests.infra import postgres_database

HOSTILE = "Robert'); DROP TABLE people; --"


@dataclass
class Database:
    name: str
    node: NodeType[Any]
    target: dict[str, Any]  # "credential" or "database" param
    hole: str  # the placeholder of the first parameter
    ctx: NodeContext
    serial: str  # an auto-increment primary key column type


@pytest.fixture(scope="module")
def pg_data() -> Iterator[dict[str, Any]]:
    with postgres_database("flowtape_test_sql") as url:
        yield {"host": "127.0.0.1", "database": url.rsplit("/", 1)[1], "username": "postgres", "tls": "disable"}


@pytest.fixture(scope="module")
def my_data() -> Iterator[dict[str, Any]]:
    with mariadb_database("flowtape_test_sql") as data:
        yield data


def context(*known: Credential) -> NodeContext:
    return NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="db", credentials=Credentials(*known)
    )


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
async def db(
    request: pytest.FixtureRequest, pg_data: dict[str, Any], my_data: dict[str, Any], tmp_path: Path
) -> AsyncIterator[Database]:
    connections = Connections(LOCAL_SERVERS, data_dir=tmp_path)
    if request.param == "postgres":
        cred = credential("pg", "postgres", pg_data)
        found = Database("postgres", PostgresNode(connections), {"credential": "pg"}, "$1", context(cred), "SERIAL")
    elif request.param == "mysql":
        cred = credential("my", "mysql", my_data)
        serial = "INT AUTO_INCREMENT"
        found = Database("mysql", MysqlNode(connections), {"credential": "my"}, "%s", context(cred), serial)
    else:
        found = Database("sqlite", SqliteNode(connections), {"database": "t.db"}, "?", context(), "INTEGER")
    await run(found, {"query": "DROP TABLE IF EXISTS people"})
    await run(
        found,
        {
            "query": f"CREATE TABLE people (id {found.serial} PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, "
            "name VARCHAR(200), visits INT DEFAULT 0)"
        },
    )
    yield found
    await connections.close()


async def run(db: Database, params: dict[str, Any], items: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    result = await execute_node(db.node, {**db.target, **params}, db.ctx, items if items is not None else [{}])
    return result.ports["main"]


async def rows(db: Database) -> list[dict[str, Any]]:
    return await run(db, {"query": "SELECT email, name, visits FROM people ORDER BY email"})


async def test_items_are_inserted_and_read_back_with_bound_parameters(db: Database) -> None:
    items = [{"email": "ada@example.com", "name": "Ada"}, {"email": "bob@example.com", "name": HOSTILE}]

    await run(db, {"operation": "insert", "table": "people"}, items)
    found = await run(
        db, {"query": f"SELECT name FROM people WHERE email = {db.hole}", "parameters": ["{{ item.email }}"]}, items
    )

    assert [row["name"] for row in found] == ["Ada", HOSTILE], "the hostile name is data, the table is still there"
    assert len(await rows(db)) == 2


async def test_the_query_text_is_never_rendered_so_an_expression_cannot_inject(db: Database) -> None:
    await run(db, {"operation": "insert", "table": "people"}, [{"email": "x@example.com", "name": "X"}])

    literal = await run(db, {"query": "SELECT '{{ item.name }}' AS shown FROM people"}, [{"name": "x' OR '1'='1"}])

    assert literal == [{"shown": "{{ item.name }}"}]


async def test_upsert_and_update_write_by_key(db: Database) -> None:
    await run(
        db, {"operation": "insert", "table": "people"}, [{"email": "ada@example.com", "name": "Ada", "visits": 1}]
    )

    await run(
        db,
        {"operation": "upsert", "table": "people", "key_columns": ["email"]},
        [
            {"email": "ada@example.com", "name": "Ada L.", "visits": 2},
            {"email": "cy@example.com", "name": "Cy", "visits": 0},
        ],
    )
    await run(
        db,
        {
            "operation": "update",
            "table": "people",
            "key_columns": ["email"],
            "values": {"email": "{{ item.who }}", "visits": "{{ item.n }}"},
        },
        [{"who": "cy@example.com", "n": 7}, {"who": HOSTILE, "n": 99}],
    )

    assert await rows(db) == [
        {"email": "ada@example.com", "name": "Ada L.", "visits": 2},
        {"email": "cy@example.com", "name": "Cy", "visits": 7},
    ]


async def test_writes_report_what_they_did(db: Database) -> None:
    written = await run(db, {"operation": "insert", "table": "people"}, [{"email": "r@example.com", "name": "R"}])
    changed = await run(
        db, {"query": f"UPDATE people SET visits = visits + 1 WHERE email <> {db.hole}", "parameters": ["-"]}
    )

    if db.name == "mysql":
        assert written[0]["affected_rows"] == 1 and written[0]["last_insert_id"] >= 1
    else:
        assert written[0]["email"] == "r@example.com" and written[0]["visits"] == 0, "RETURNING * rows"
    assert changed[0]["affected_rows"] == 1


async def test_identifiers_are_checked_and_errors_say_what_failed(db: Database) -> None:
    with pytest.raises(NodeError, match="not a plain table or column name"):
        await run(db, {"operation": "insert", "table": "people; DROP TABLE people"}, [{"email": "a"}])
    with pytest.raises(NodeError, match="not a plain column name"):
        await run(db, {"operation": "insert", "table": "people"}, [{"email) VALUES ('x'); --": "a"}])
    with pytest.raises(NodeError, match="refused the statement") as refused:
        await run(db, {"query": "SELECT * FROM no_such_table"})
    assert "no_such_table" in refused.value.message
    assert len(await rows(db)) == 0


async def test_a_pool_per_credential_is_reused(pg_data: dict[str, Any]) -> None:
    connections = Connections(LOCAL_SERVERS)
    cred = credential("pg", "postgres", pg_data)
    try:
        first = await connections.postgres.pool(cred)
        assert await connections.postgres.pool(cred) is first
        changed = credential("pg", "postgres", {**pg_data, "port": 5432, "tls": "disable", "password": "other"})
        assert await connections.postgres.pool(changed) is not first, "a replaced credential gets a new pool"
    finally:
        await connections.close()


async def test_sqlite_files_stay_in_the_data_directory(tmp_path: Path) -> None:
    node = SqliteNode(Connections(data_dir=tmp_path))
    with pytest.raises(NodeError, match="invalid parameters"):
        await execute_node(node, {"database": "../connectors.db", "query": "SELECT 1"}, context(), [{}])
    with pytest.raises(NodeError, match="invalid parameters"):
        await execute_node(node, {"database": "/etc/passwd", "query": "SELECT 1"}, context(), [{}])
    result = await execute_node(node, {"database": "ok.db", "query": "SELECT 1 AS one"}, context(), [{}])
    assert result.ports["main"] == [{"one": 1}] and (tmp_path / "sqlite" / "ok.db").exists()
