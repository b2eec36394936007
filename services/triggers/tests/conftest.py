"""Databases for the triggers service's tests: a SQLite file, or a fresh PostgreSQL database per module.

PostgreSQL is reached through ``FLOWTAPE_TEST_DATABASE_URL`` (an admin connection); if it is unreachable the
PostgreSQL cases fail rather than skip, so a run never claims what it did not check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra import postgres_database

ADMIN_URL = os.environ.get("FLOWTAPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module; an unreachable server fails the tests, never skips them."""
    with postgres_database("flowtape_test_triggers") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'triggers.db').resolve()}"
    url: str = request.getfixturevalue("postgres_url")
    return url
