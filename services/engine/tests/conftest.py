"""Databases for the engine's tests: a SQLite file, or a fresh PostgreSQL database per test module.

PostgreSQL is reached through ``FLOWTAPE_TEST_DATABASE_URL`` (an admin connection, by default the local
server's ``postgres`` database). If it is unreachable the PostgreSQL cases error out rather than skip:
a run that silently left out PostgreSQL would claim what it never checked.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]


class PostgresDatabases:
    """Creates throw-away databases on one server and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self._admin = make_url(admin_url).set(drivername="postgresql")
        self._created: list[str] = []

    def _dsn(self, database: str) -> str:
        return self._admin.set(database=database).render_as_string(hide_password=False)

    async def _admin_connection(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self._dsn(self._admin.database or "postgres"), timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(
                f"PostgreSQL is unreachable at {self._admin.render_as_string()} ({type(exc).__name__}: {exc}); "
                "start it or point FLOWTAPE_TEST_DATABASE_URL at an admin connection",
                pytrace=False,
            )

    async def create(self) -> str:
        name = f"flowtape_test_engine_{secrets.token_hex(6)}"
        conn = await self._admin_connection()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self._created.append(name)
        return self._dsn(name)

    async def drop_all(self) -> None:
        if not self._created:
            return
        conn = await self._admin_connection()
        try:
            for name in self._created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self._created.clear()


@pytest.fixture(scope="module")
async def postgres() -> AsyncIterator[PostgresDatabases]:
    databases = PostgresDatabases(os.environ.get("FLOWTAPE_TEST_DATABASE_URL", DEFAULT_ADMIN_URL))
    try:
        yield databases
    finally:
        await databases.drop_all()


@pytest.fixture(scope="module")
async def postgres_url(postgres: PostgresDatabases) -> str:
    """One fresh database shared by the tests of a module."""
    return await postgres.create()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{(directory / 'engine.db').resolve()}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file of this test's own, or the module's PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url
