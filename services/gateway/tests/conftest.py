"""The gateway's own logic, in process: its real app (routes, middleware, error mapping) on the in-process bus.

No platform is needed: requests that are refused at the edge never reach a peer, and where a peer must answer
the tests run the real one in process (the triggers service on a SQLite file). Tokens are signed with keys made
the way the auth service makes them, and the gateway learns their public half as it would from auth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from flowtape.auth.domain import keys as keyring
from flowtape.auth.domain import tokens
from flowtape.common.bus.memory import MemoryBus
from flowtape.common.hosting import build_app
from flowtape.common.messages.auth import Memberships, Role
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.settings import Settings
from flowtape.gateway.bootstrap import GatewayRuntime

BODY_LIMIT = 64 * 1024
MAX_DEPTH = 16


class Gateway:
    """The gateway's app with a few probe routes beside the real ones, and a way to sign callers in."""

    def __init__(self, app: FastAPI, runtime: GatewayRuntime, bus: MemoryBus) -> None:
        self.app = app
        self.runtime = runtime
        self.bus = bus
        now = datetime.now(UTC)
        vault = keyring.KeyVault("gateway-tests")
        self._signing = keyring.new_key("sig", now, vault)
        self._private = keyring.private_key(self._signing, vault)
        runtime.gateway.guard.learn_keys(
            keyring.public_key_set([self._signing, keyring.new_key("enc", now, vault)], now)
        )

    def headers(self, role: Role = "admin", *, expires_in: float = 600) -> dict[str, str]:
        """A token of ``<role>-user``: a platform admin, or a member of the default project with ``role``
        (the memberships the gateway would learn from auth)."""
        admin = role == "admin"
        self.runtime.gateway.memberships.learn(
            Memberships(
                user_id=f"{role}-user",
                platform_admin=admin,
                projects={} if admin else {DEFAULT_PROJECT: role},
                default_project=None if admin else DEFAULT_PROJECT,
            )
        )
        token = tokens.issue(
            user_id=f"{role}-user",
            email=f"{role}@flowtape.test",
            role=role,
            generation=0,
            key=self._private,
            now=datetime.now(UTC),
            ttl=timedelta(seconds=expires_in),
        )
        return {"Authorization": f"Bearer {token}"}

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway.test")


def _probes(app: FastAPI) -> None:
    """Routes only the tests have: they show what reaches a route, and what a bug in one looks like. They go
    first, ahead of the console's catch-all route for its own pages."""
    before = len(app.router.routes)

    @app.post("/probe/echo")
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"length": len(body), "start": body[:32].decode(errors="replace")})

    @app.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("a bug with a secret in its message: postgresql://flowtape:hunter2@db/flowtape")

    @app.get("/probe/loose-headers")
    async def loose_headers() -> Response:
        return Response("<p>hi</p>", media_type="text/html", headers={"content-security-policy": "default-src *"})

    probes = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = probes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        amqp_url=None,
        database_url=None,
        max_body_bytes=BODY_LIMIT,
        max_json_depth=MAX_DEPTH,
        request_timeout_seconds=1.0,
    )


@pytest.fixture
def gateway(settings: Settings) -> Gateway:
    bus = MemoryBus()
    registry = CollectorRegistry()
    runtime = GatewayRuntime(settings, bus, registry)
    app = build_app(bus, [runtime], registry, title="Flowtape")
    _probes(app)
    return Gateway(app, runtime, bus)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as client:
        yield client
