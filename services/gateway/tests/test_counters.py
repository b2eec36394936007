"""The rate-limit counters on PostgreSQL: one autocommit statement per hit (concurrent hits of one key share one),
no ping, and a dropped connection costs one uncounted call, never an error to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import async_engine
from flowtape.common.errors import RateLimited
from flowtape.gateway.counters import PostgresCounters
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.settings import RateLimitSettings
from tests.infra import drop_connections, postgres_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with postgres_database("flowtape_test_gateway") as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = async_engine(database_url, "gateway", pool_size=2, pre_ping=False)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_limit_counts_on_after_the_database_drops_the_counters_connections(
    engine: AsyncEngine, database_url: str
) -> None:
    counters = PostgresCounters(engine)
    await counters.create()
    limits = RateLimits(RateLimitSettings(api="3/minute"), counters)
    await limits.hit("api", "key-1")
    await limits.hit("api", "key-1")

    assert drop_connections(database_url) >= 1
    await limits.hit("api", "key-1")  # meets a dead connection: let through, not an error
    await limits.hit("api", "key-1")  # the pool reconnected: the third counted hit of the window

    with pytest.raises(RateLimited, match="too many requests"):
        await limits.hit("api", "key-1")


async def test_concurrent_calls_of_one_key_each_get_their_own_count(engine: AsyncEngine) -> None:
    """Calls that ride together on one statement are numbered as if each had its own: a burst of one API key
    gets exactly its allowance through, whatever the interleaving."""
    counters = PostgresCounters(engine)
    await counters.create()
    counts = await asyncio.gather(*(counters.incr("burst-1", 60) for _ in range(25)))
    assert sorted(counts) == list(range(1, 26))
    assert await counters.incr("burst-1", 60, amount=3) == 28

    limits = RateLimits(RateLimitSettings(api="10/minute"), counters)
    outcomes = await asyncio.gather(*(limits.hit("api", "burst-2") for _ in range(25)), return_exceptions=True)
    assert sum(outcome is None for outcome in outcomes) == 10
    assert all(isinstance(outcome, RateLimited) for outcome in outcomes if outcome is not None)
