"""Databases for the triggers service's tests: a SQLite file, or a fresh PostgreSQL database per module.

PostgreSQL is reached through ``FLOWTAPE_TEST_DATABASE_URL`` (an admin connection); if it is unreachable the
PostgreSQL cases fail rather than skip, so a run never claims what it did not check.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("FLOWTAPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    admin = make_url(ADMIN_URL).set(drivername="postgresql")
    name = f"flowtape_test_triggers_{secrets.token_hex(6)}"
    dsn = admin.render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is unreachable at {admin.render_as_string()} ({exc})", pytrace=False)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'triggers.db').resolve()}"
    url: str = request.getfixturevalue("postgres_url")
    return url
