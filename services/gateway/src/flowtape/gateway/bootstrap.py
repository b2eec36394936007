"""The gateway's composition root: the public API on top of the bus, holding no data of its own.

The only place that builds the gateway's connections (the rate-limit counters' database) and wires its parts
into the :class:`~flowtape.gateway.application.Gateway`; the routes and middleware are :mod:`flowtape.gateway.app`'s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, is_sqlite
from flowtape.common.hosting import BaseRuntime
from flowtape.common.ops import Check
from flowtape.common.settings import Settings
from flowtape.gateway import app as http
from flowtape.gateway import bus as handlers
from flowtape.gateway.access import KnownProjects, MembershipCache, Owners
from flowtape.gateway.accounts import Accounts, FirstRun
from flowtape.gateway.application import Gateway
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.backups import PlatformBackups
from flowtape.gateway.clients import Platform
from flowtape.gateway.counters import PostgresCounters
from flowtape.gateway.finished import FinishedExecutions
from flowtape.gateway.peers import PeerBus
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.security import Guard
from flowtape.gateway.settings import RateLimitSettings, SecuritySettings
from flowtape.gateway.steps import StepTests
from flowtape.gateway.transfers import WorkflowTransfers
from flowtape.gateway.variables import VariablesClient
from flowtape.gateway.vault import VaultClient
from flowtape.gateway.webhooks import WebhookRoutes, Webhooks


class GatewayRuntime(BaseRuntime):
    name = "gateway"

    def __init__(self, settings: Settings, bus: Bus, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._registry = registry
        self._replica = uuid.uuid4().hex[:12]
        self._auth_refresh: asyncio.Task[None] | None = None
        # rate-limit counters: in the gateway's PostgreSQL schema, shared by every replica; in memory on SQLite
        # (the embedded platform: one process). The gateway keeps nothing else in its database.
        database_url = settings.database_url_for("gateway")
        self._counters_engine = (
            None
            if is_sqlite(database_url)
            else async_engine(
                # every request counts one hit: connections enough for concurrent requests not to open and close
                # overflow ones, and no ping per hit (a counter that meets a dropped connection lets that one call
                # through, as it does whenever the counters are unreachable)
                database_url,
                "gateway",
                pool_size=8,
                pre_ping=False,
            )
        )
        self._counters = PostgresCounters(self._counters_engine) if self._counters_engine is not None else None
        self.gateway = _assemble(settings, PeerBus(bus), self._counters, registry)

    async def open(self) -> None:
        if self._counters is not None:
            await self._counters.create()

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.gateway, self._replica)

    async def started(self) -> None:
        self._auth_refresh = asyncio.create_task(self.gateway.guard.refresh_forever())

    async def close(self) -> None:
        if self._auth_refresh is not None:
            self._auth_refresh.cancel()
        if self._counters_engine is not None:
            await self._counters_engine.dispose()

    def checks(self) -> Mapping[str, Check]:
        async def auth_keys() -> bool:
            return self.gateway.guard.ready

        return {"auth_keys": auth_keys}

    def routers(self) -> Sequence[APIRouter]:
        return http.routers()

    def configure(self, app: FastAPI) -> None:
        http.configure(app, self.gateway, self._settings, self._registry)


def _assemble(
    settings: Settings, peers: PeerBus, counters: PostgresCounters | None, registry: CollectorRegistry
) -> Gateway:
    """``peers``: what the parts ask of other services goes through it, so its answers reach clients in clients'
    terms."""
    timeout = settings.request_timeout_seconds
    security = SecuritySettings()
    finished = FinishedExecutions()
    platform = Platform(peers, finished, timeout)
    guard = Guard(peers, security, registry=registry)
    owners = Owners(peers)
    vault = VaultClient(peers, timeout)
    webhook_routes = WebhookRoutes(peers)
    platform.on_registrations_changed.append(webhook_routes.invalidate)
    return Gateway(
        platform=platform,
        guard=guard,
        memberships=MembershipCache(peers, ttl=security.auth_refresh_seconds),
        owners=owners,
        projects=KnownProjects(peers),
        accounts=Accounts(peers, guard, timeout),
        first_run=FirstRun(peers, timeout),
        audit=AuditTrail(peers, registry),
        vault=vault,
        variables=VariablesClient(platform, vault),
        transfers=WorkflowTransfers(platform, vault, owners),
        step_tests=StepTests(platform),
        backups=PlatformBackups(platform),
        webhook_routes=webhook_routes,
        webhooks=Webhooks(webhook_routes, platform, timeout),
        finished=finished,
        rate_limits=RateLimits(RateLimitSettings(), counters, registry),
    )


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> GatewayRuntime:
    return GatewayRuntime(settings, bus, registry)
