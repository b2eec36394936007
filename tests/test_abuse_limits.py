"""End to end: request limits hold across two gateway replicas (issue 15, item 2).

Two extra gateway processes join the session's platform with small limits; calls alternate between them, so a
replica counting on its own would let twice the allowance through. Counters are kept in PostgreSQL, the one
store every replica shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.infra import Platform, remember_secret, wait_ready
from tests.test_triggers import activate, create, webhook

API_LIMIT = 24
ANONYMOUS_LIMIT = 12
WEBHOOK_LIMIT = 16


@dataclass
class Replicas:
    urls: tuple[str, str]

    def client(self, index: int, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.urls[index % 2], timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def replicas(platform: Platform) -> Iterator[Replicas]:
    env = {
        "FLOWTAPE_RATE_LIMIT_API": f"{API_LIMIT}/minute",
        "FLOWTAPE_RATE_LIMIT_ANONYMOUS": f"{ANONYMOUS_LIMIT}/minute",
        "FLOWTAPE_RATE_LIMIT_WEBHOOK": f"{WEBHOOK_LIMIT}/minute",
    }
    started = [platform.start("gateway", name=f"gateway-limits-{n}", env=env) for n in (1, 2)]
    try:
        for process in started:
            wait_ready(process.url, process=process.popen)
        yield Replicas((started[0].url, started[1].url))
    finally:
        for process in started:
            platform.stop(process.name)
            platform.processes.pop(process.name, None)  # the session's platform goes on without them


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and f"{limit} per 1 minute" in error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and error["details"]["retry_after"] == retry_after


def calls_until_refused(replicas: Replicas, method: str, path: str, most: int, **kwargs: object) -> list[int]:
    """Alternate the call between the two replicas until one answers 429 (or ``most`` calls were made)."""
    statuses: list[int] = []
    clients = [replicas.client(0), replicas.client(1)]
    try:
        for n in range(most):
            response = clients[n % 2].request(method, path, **kwargs)  # type: ignore[arg-type]
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    finally:
        for client in clients:
            client.close()
    return statuses


def new_api_key(api: httpx.Client, role: str = "viewer") -> str:
    created = api.post("/api/v1/api-keys", json={"name": f"limits-{uuid.uuid4().hex[:6]}", "role": role})
    assert created.status_code == 201, created.text
    return remember_secret(created.json()["key"])


def test_an_api_key_gets_its_allowance_across_both_replicas_and_then_429(api: httpx.Client, replicas: Replicas) -> None:
    key, other = new_api_key(api), new_api_key(api)
    statuses = calls_until_refused(replicas, "GET", "/api/v1/auth/me", API_LIMIT * 3, headers={"X-API-Key": key})
    assert statuses == [200] * API_LIMIT + [429], statuses
    with replicas.client(1, headers={"X-API-Key": key}) as client:
        assert_rate_limited(client.get("/api/v1/workflows"), API_LIMIT)
    # another key (and the key's owner signed in with a token) keep their own allowance
    with replicas.client(0, headers={"Authorization": f"Bearer {other}"}) as client:
        assert client.get("/api/v1/auth/me").status_code == 200
    with replicas.client(1, headers=dict(api.headers)) as client:
        assert client.get("/api/v1/auth/me").status_code == 200


def test_anonymous_calls_and_wrong_credentials_count_per_client_address(replicas: Replicas) -> None:
    address = f"127.0.{uuid.uuid4().int % 200 + 20}.{uuid.uuid4().int % 250 + 2}"  # a loopback address of its own
    transport = [httpx.HTTPTransport(local_address=address) for _ in range(2)]
    clients = [replicas.client(n, transport=transport[n]) for n in range(2)]
    try:
        statuses = []
        for n in range(ANONYMOUS_LIMIT):
            if n % 3 == 0:  # a wrong key counts against the address as well as answering 401
                response = clients[n % 2].get("/api/v1/workflows", headers={"X-API-Key": "ftk_wrong"})
            elif n % 3 == 1:
                response = clients[n % 2].post("/api/v1/auth/login", json={"email": "x@y.test", "password": "nope"})
            else:
                response = clients[n % 2].get("/api/v1/workflows")
            statuses.append(response.status_code)
        assert 429 not in statuses and set(statuses) <= {401}, statuses
        assert_rate_limited(clients[0].get("/api/v1/auth/me"), ANONYMOUS_LIMIT)
        assert_rate_limited(clients[1].get("/api/v1/auth/me", headers={"X-API-Key": "ftk_wrong"}), ANONYMOUS_LIMIT)
    finally:
        for client in clients:
            client.close()
    # another address is not affected
    fresh = f"127.1.{uuid.uuid4().int % 250 + 2}.{uuid.uuid4().int % 250 + 2}"
    with replicas.client(1, transport=httpx.HTTPTransport(local_address=fresh)) as client:
        assert client.get("/api/v1/auth/me").status_code == 401


def test_a_webhook_path_gets_its_allowance_across_both_replicas_and_then_429(
    api: httpx.Client, replicas: Replicas
) -> None:
    path = f"limited-{uuid.uuid4().hex[:8]}"
    activate(api, create(api, webhook(path)))
    clients = [replicas.client(0), replicas.client(1)]
    try:
        statuses = []
        for n in range(WEBHOOK_LIMIT * 3):  # a replica may answer 404 until it has learned the route: that counts too
            statuses.append(clients[n % 2].post(f"/hooks/{path}", json={"n": n}).status_code)
            if statuses[-1] == 429:
                break
        assert len(statuses) == WEBHOOK_LIMIT + 1 and statuses[-1] == 429, statuses
        assert statuses[-3:-1] == [202, 202] and set(statuses[:-1]) <= {202, 404}, statuses
        assert_rate_limited(clients[1].post(f"/hooks/{path}", json={}), WEBHOOK_LIMIT)
        # another path has its own allowance
        assert clients[0].post(f"/hooks/not-{path}", json={}).status_code == 404
    finally:
        for client in clients:
            client.close()
