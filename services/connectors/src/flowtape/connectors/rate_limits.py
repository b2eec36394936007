"""Rate limits on outgoing API calls: per credential (its ``rate_limit``), per host (``FLOWTAPE_EGRESS_RATE_LIMITS``).

A limit of ``per_second`` with ``burst`` is held as ``burst`` *permits*: a call takes the permit that is free
soonest, waits until then, makes its request, and gives the permit back free again ``burst / per_second``
seconds after the request *finished*. So at most ``burst`` requests start in any window of that length, as
the remote side sees it too (a request that was slow on the way cannot bunch up with the next ones), the
sustained rate is at most ``per_second``, and at most ``burst`` requests of one key are in flight at once.

Where the permits live decides who shares them: :class:`LocalLimits` keeps them in this process (the embedded
platform, one process); :class:`PostgresLimits` in the connectors' schema, so every connectors replica takes
from the same permits (see docs/architecture.md for why PostgreSQL rather than the broker). A permit held by
a replica that died is free again once its lease (the request's timeout plus the window) runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol

import httpx
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.credentials import RateLimit
from flowtape.common.db import ensure_schema
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.domain.host_limits import HostLimits

SCHEMA = "connectors"
#: how long a permit may be held before another replica may take it (a dead holder's lease)
LEASE_SECONDS = 120.0


class Permits(Protocol):
    async def take(self, key: str, limit: RateLimit) -> tuple[int, float]:
        """A permit of ``key`` (its number) and the seconds to wait before using it."""
        ...

    async def give_back(self, key: str, permit: int, limit: RateLimit) -> None: ...


class RateLimits:
    def __init__(self, permits: Permits, hosts: HostLimits = HostLimits()) -> None:
        self._permits = permits
        self._hosts = hosts

    def _keys(self, url: str, credential: Credential | None) -> list[tuple[str, RateLimit]]:
        keys: list[tuple[str, RateLimit]] = []
        if credential is not None and credential.data.rate_limit is not None:
            keys.append((f"credential:{credential.id}", credential.data.rate_limit))
        host = self._hosts.of(httpx.URL(url).host)
        if host is not None:
            keys.append((f"host:{host[0]}", host[1]))
        return keys

    @contextlib.asynccontextmanager
    async def slot(self, url: str, credential: Credential | None = None) -> AsyncIterator[None]:
        """Hold every limit that applies to a call to ``url`` with ``credential`` while the call runs."""
        async with contextlib.AsyncExitStack() as stack:
            for key, limit in self._keys(url, credential):
                await stack.enter_async_context(self._permit(key, limit))
            yield

    @contextlib.asynccontextmanager
    async def _permit(self, key: str, limit: RateLimit) -> AsyncIterator[None]:
        permit, wait = await self._permits.take(key, limit)
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            yield
        finally:
            await asyncio.shield(self._permits.give_back(key, permit, limit))


class LocalLimits:
    """Permits in this process: right for one process (embedded mode, SQLite)."""

    def __init__(self) -> None:
        self._free_at: dict[str, list[float]] = {}
        self._changed = asyncio.Condition()

    async def take(self, key: str, limit: RateLimit) -> tuple[int, float]:
        async with self._changed:
            while True:
                permits = self._free_at.setdefault(key, [])
                permits.extend([0.0] * (limit.burst - len(permits)))
                usable = [(free, n) for n, free in enumerate(permits[: limit.burst]) if free != float("inf")]
                if usable:
                    free, permit = min(usable)
                    permits[permit] = float("inf")
                    return permit, max(0.0, free - time.monotonic())
                await self._changed.wait()

    async def give_back(self, key: str, permit: int, limit: RateLimit) -> None:
        async with self._changed:
            self._free_at[key][permit] = time.monotonic() + limit.window_seconds
            self._changed.notify_all()


metadata = MetaData(schema=SCHEMA)
permits_table = Table(
    "rate_permits",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("permit", Integer, primary_key=True),
    #: when the permit may be used next; while held, when its holder's lease runs out
    Column("free_at", DateTime(timezone=True), nullable=False),
    #: True while a call holds it
    Column("held", Integer, nullable=False, server_default="0"),
)


class PostgresLimits:
    """Permits as rows of ``connectors.rate_permits``, shared by every replica; times are the database's own
    clock (``clock_timestamp()``), so replicas with skewed clocks still agree."""

    def __init__(self, engine: AsyncEngine, poll_seconds: float = 0.05) -> None:
        self._engine = engine
        self._poll = poll_seconds
        #: one waiter per key polls the table at a time in this replica; the others queue here, not on the pool
        self._waiting: dict[str, asyncio.Lock] = {}

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def take(self, key: str, limit: RateLimit) -> tuple[int, float]:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO connectors.rate_permits (key, permit, free_at, held) "
                    "SELECT :key, n, TIMESTAMPTZ '1970-01-01 00:00:00+00', 0 FROM generate_series(0, :burst - 1) AS n "
                    "ON CONFLICT DO NOTHING"
                ),
                {"key": key, "burst": limit.burst},
            )
        async with self._waiting.setdefault(key, asyncio.Lock()):
            return await self._take(key, limit)

    async def _take(self, key: str, limit: RateLimit) -> tuple[int, float]:
        while True:
            async with self._engine.begin() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT permit, GREATEST(0, EXTRACT(EPOCH FROM free_at - clock_timestamp())) AS wait "
                            "FROM connectors.rate_permits "
                            "WHERE key = :key AND permit < :burst AND (held = 0 OR free_at < clock_timestamp()) "
                            "ORDER BY free_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                        ),
                        {"key": key, "burst": limit.burst},
                    )
                ).first()
                if row is not None:
                    wait = float(row.wait or 0.0)
                    await conn.execute(
                        text(
                            "UPDATE connectors.rate_permits SET held = 1, "
                            "free_at = GREATEST(free_at, clock_timestamp()) + make_interval(secs => :lease) "
                            "WHERE key = :key AND permit = :permit"
                        ),
                        {"key": key, "permit": row.permit, "lease": LEASE_SECONDS + limit.window_seconds},
                    )
                    return int(row.permit), wait
            await asyncio.sleep(self._poll)

    async def give_back(self, key: str, permit: int, limit: RateLimit) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE connectors.rate_permits SET held = 0, "
                    "free_at = clock_timestamp() + make_interval(secs => :window) "
                    "WHERE key = :key AND permit = :permit"
                ),
                {"key": key, "permit": permit, "window": limit.window_seconds},
            )
