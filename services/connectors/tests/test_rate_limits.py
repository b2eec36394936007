"""Rate limits: at most ``burst`` requests in any ``burst / per_second`` window as the remote side sees them,
held across replicas on PostgreSQL; per credential and per host."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.credentials import RateLimit
from flowtape.common.db import async_engine
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.connections import Connections
from flowtape.connectors.domain.host_limits import HostLimits
from flowtape.connectors.rate_limits import LocalLimits, PostgresLimits, RateLimits
from services.connectors.tests.fakes import LOCAL_SERVERS, FakeApi, Recorded, credential
from tests.infra import postgres_database


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for t in ordered[i:] if t - start < window) for i, start in enumerate(ordered)), default=0)


class Timed(FakeApi):
    def __init__(self) -> None:
        self.arrivals: list[float] = []

        def ok(request: Recorded) -> tuple[int, Any]:
            self.arrivals.append(time.monotonic())
            return 200, {"ok": True}

        super().__init__({"GET /": ok})


@pytest.fixture
def api() -> Iterator[Timed]:
    with Timed() as server:
        yield server


def test_host_limits_parse_and_match() -> None:
    hosts = HostLimits.parse("api.example.com=10/s:20, *.slack.com=1/s")
    assert hosts.of("api.example.com") == ("api.example.com", RateLimit(per_second=10, burst=20))
    assert hosts.of("hooks.slack.com") == (".slack.com", RateLimit(per_second=1, burst=1))
    assert hosts.of("example.com") is None
    with pytest.raises(ValueError, match="host=<n>/s"):
        HostLimits.parse("api.example.com=fast")


async def test_a_host_limit_holds_in_one_process(api: Timed) -> None:
    connections = Connections(LOCAL_SERVERS, limits=RateLimits(LocalLimits(), HostLimits.parse("127.0.0.1=5/s:5")))
    calls = ApiCalls(connections)
    try:
        await asyncio.gather(*(calls.call("fake", "GET", f"{api.url}/x") for _ in range(15)))
    finally:
        await connections.close()
    assert len(api.arrivals) == 15
    assert most_in_any_window(api.arrivals, 1.0) <= 5
    assert api.arrivals[-1] - api.arrivals[0] >= 2.0, "15 calls at 5 per second take two windows at least"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_database("flowtape_test_limits") as url:
        yield url


@pytest.fixture
async def two_replicas(postgres_url: str) -> AsyncIterator[list[ApiCalls]]:
    engines = [async_engine(postgres_url, SCHEMA) for _ in range(2)]
    connections = []
    for engine in engines:
        permits = PostgresLimits(engine)
        await permits.create()
        connections.append(Connections(LOCAL_SERVERS, limits=RateLimits(permits)))
    yield [ApiCalls(c) for c in connections]
    for c in connections:
        await c.close()
    for engine in engines:
        await engine.dispose()


async def test_a_credential_limit_holds_across_two_replicas(api: Timed, two_replicas: list[ApiCalls]) -> None:
    limited = credential("limited", "http_bearer", {"token": "t", "rate_limit": {"per_second": 5, "burst": 5}})

    answers = await asyncio.gather(
        *(two_replicas[n % 2].call("fake", "GET", f"{api.url}/n{n}", credential=limited) for n in range(50))
    )

    assert len(answers) == 50 and all(a.status == 200 for a in answers)
    assert most_in_any_window(api.arrivals, 1.0) <= 5, sorted(round(t - api.arrivals[0], 2) for t in api.arrivals)
