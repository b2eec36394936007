"""Auth's application tests run on a SQLite file and on a fresh PostgreSQL database, with a fake clock.

PostgreSQL is reached through ``FLOWTAPE_TEST_DATABASE_URL`` (an admin connection, by default the local server's
``postgres`` database); if it is unreachable the PostgreSQL cases fail rather than skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowtape.auth.application import AuthService
from flowtape.auth.domain.keys import KeyVault
from flowtape.auth.domain.passwords import Passwords
from flowtape.auth.projects import Projects
from flowtape.auth.settings import AuthSettings
from flowtape.auth.store import SCHEMA, AuthStore
from flowtape.common.bus.memory import MemoryBus
from flowtape.common.db import async_engine
from flowtape.common.messages import auth as msg
from flowtape.common.topology import auth_events_broadcast
from tests.infra import postgres_database

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Mailbox:
    """Stands in for the SMTP server (the real one is exercised end to end in tests/test_accounts.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


class Harness:
    """An AuthService on a real store and the in-process bus, with what it broadcast and mailed."""

    def __init__(self, auth: AuthService, clock: Clock, events: list[Any], url: str, mail: Mailbox) -> None:
        self.mail = mail
        self.auth = auth
        self.clock = clock
        self.events = events
        self.url = url
        self.keys: msg.PublicKeySet | None = None

    def with_settings(self, **changes: Any) -> AuthService:
        """Another AuthService on the same store, bus and clock, with some settings changed."""
        settings = self.auth._settings.model_copy(update=changes)
        return AuthService(
            store=self.auth._store,
            settings=settings,
            vault=self.auth._vault,
            passwords=self.auth._passwords,
            bus=self.auth._bus,
            clock=self.clock,
        )

    @property
    def projects(self) -> Projects:
        return Projects(store=self.auth._store, auth=self.auth, clock=self.clock)

    def seal(self, password: str) -> str:
        from flowtape.gateway.security import seal

        assert self.keys is not None
        return seal(password, self.keys, now=self.clock().timestamp())


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module; an unreachable server fails the tests, never skips them."""
    with postgres_database("flowtape_test_auth") as url:
        yield url


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords()


@pytest.fixture(params=["sqlite", "postgresql"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path, passwords: Passwords) -> AsyncIterator[Harness]:
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'auth.db').resolve()}"
    else:
        base = request.getfixturevalue("postgres_url")
        # a schema-per-test would need a database per test: reset the tables instead
        url = base
    db = async_engine(url, SCHEMA, pool_size=2)
    store = AuthStore(db)
    if request.param == "postgresql":
        from sqlalchemy import text

        async with db.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    await store.create()
    bus = MemoryBus()
    events: list[Any] = []

    async def collect(event: Any) -> None:
        events.append(event)

    bus.subscribe(
        auth_events_broadcast("test", "1"),
        {
            msg.PublicKeysPublished: collect,
            msg.UserAccessChanged: collect,
            msg.ApiKeyRevoked: collect,
            msg.SessionsRevoked: collect,
            msg.MembershipsChanged: collect,
        },
        prefetch=1,
    )
    await bus.start()
    clock = Clock()
    settings = AuthSettings(
        token_ttl_seconds=600,
        login_free_attempts=3,
        login_max_delay_seconds=30,
        login_failures_per_account=3,
        login_failures_per_address=5,
        login_window_seconds=60,
    )
    auth = AuthService(
        store=store,
        settings=settings,
        vault=KeyVault("test-secret"),
        passwords=passwords,
        bus=bus,
        clock=clock,
        mailer=(mailbox := Mailbox()),
        public_url="https://flows.example.com/",
    )
    h = Harness(auth, clock, events, url, mailbox)
    h.keys = await auth.ensure_keys()
    try:
        yield h
    finally:
        await bus.stop()
        await db.dispose()
