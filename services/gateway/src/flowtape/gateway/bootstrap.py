"""The gateway's composition root: the public API on top of the bus, holding no data of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CollectorRegistry

from flowtape.common import telemetry
from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, is_sqlite
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.auth import (
    ApiKeyRevoked,
    MembershipsChanged,
    PublicKeysPublished,
    SessionsRevoked,
    UserAccessChanged,
)
from flowtape.common.messages.engine import ExecutionFinished
from flowtape.common.messages.triggers import TriggersChanged
from flowtape.common.ops import Check
from flowtape.common.settings import Settings
from flowtape.common.topology import (
    auth_events_broadcast,
    execution_finished_broadcast,
    triggers_changed_broadcast,
)
from flowtape.gateway import console, console_session, errors
from flowtape.gateway.access import MembershipCache, Owners
from flowtape.gateway.accounts import Accounts
from flowtape.gateway.api_schema import document_errors
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.clients import Platform
from flowtape.gateway.counters import PostgresCounters
from flowtape.gateway.deps import secured
from flowtape.gateway.finished import FinishedExecutions
from flowtape.gateway.middleware import RateLimiting, RequestLimits, RequestMetrics, SecurityHeaders
from flowtape.gateway.peers import PeerBus
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.routes import (
    admin,
    api_keys,
    audit,
    auth,
    bulk_replays,
    credentials,
    debug,
    execution_actions,
    executions,
    hooks,
    nodes,
    pauses,
    pins,
    projects,
    resume,
    sso,
    templates,
    triggers,
    users,
    variables,
    workflows,
)
from flowtape.gateway.security import Guard
from flowtape.gateway.settings import RateLimitSettings, SecuritySettings
from flowtape.gateway.vault import VaultClient
from flowtape.gateway.webhooks import WebhookRoutes, Webhooks


class GatewayRuntime(BaseRuntime):
    name = "gateway"

    def __init__(self, settings: Settings, bus: Bus, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._registry = registry
        #: what the routes ask of peers goes through this: their answers reach clients in clients' terms
        peers = PeerBus(bus)
        self.finished = FinishedExecutions()
        self.platform = Platform(peers, self.finished, settings.request_timeout_seconds)
        self._replica = uuid.uuid4().hex[:12]
        security = SecuritySettings()
        self.guard = Guard(peers, security, registry=registry)
        self.memberships = MembershipCache(peers, ttl=security.auth_refresh_seconds)
        self.owners = Owners(peers)
        self.accounts = Accounts(peers, self.guard, settings.request_timeout_seconds)
        self.audit = AuditTrail(peers, registry)
        self.vault = VaultClient(peers, settings.request_timeout_seconds)
        self._auth_refresh: asyncio.Task[None] | None = None
        self.webhook_routes = WebhookRoutes(peers)
        self.platform.on_registrations_changed.append(self.webhook_routes.invalidate)
        self.webhooks = Webhooks(self.webhook_routes, self.platform, settings.request_timeout_seconds)
        self.first_run = console_session.FirstRun(peers, settings.request_timeout_seconds)
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
        self.rate_limits = RateLimits(RateLimitSettings(), self._counters, registry)

    async def open(self) -> None:
        if self._counters is not None:
            await self._counters.create()

    def subscribe(self, bus: Bus) -> None:
        bus.subscribe(
            execution_finished_broadcast(self._replica), {ExecutionFinished: self.finished.on_finished}, prefetch=64
        )
        bus.subscribe(
            triggers_changed_broadcast("gateway", self._replica),
            {TriggersChanged: self.webhook_routes.on_changed},
            prefetch=1,
        )
        bus.subscribe(
            auth_events_broadcast("gateway", self._replica),
            {
                PublicKeysPublished: self.guard.on_keys_published,
                UserAccessChanged: self._on_user_changed,
                MembershipsChanged: self.memberships.on_changed,
                ApiKeyRevoked: self.guard.on_api_key_revoked,
                SessionsRevoked: self.guard.on_sessions_revoked,
            },
            prefetch=1,
        )

    async def _on_user_changed(self, event: UserAccessChanged) -> None:
        await self.guard.on_user_changed(event)
        await self.memberships.on_user_changed(event)

    async def started(self) -> None:
        self._auth_refresh = asyncio.create_task(self.guard.refresh_forever())

    async def close(self) -> None:
        if self._auth_refresh is not None:
            self._auth_refresh.cancel()
        if self._counters_engine is not None:
            await self._counters_engine.dispose()

    def checks(self) -> Mapping[str, Check]:
        async def auth_keys() -> bool:
            return self.guard.ready

        return {"auth_keys": auth_keys}

    def routers(self) -> Sequence[APIRouter]:
        # resume URLs before the webhook catch-all
        public = (
            auth.public_router,
            sso.public_router,
            console_session.router,
            resume.router,
            hooks.router,
            credentials.public_router,
        )
        return (
            *public,
            secured(
                auth.router,
                sso.router,
                projects.router,
                users.router,
                api_keys.router,
                audit.router,
                workflows.router,
                pins.router,
                bulk_replays.router,  # before executions': /executions/replay is not an execution id
                executions.router,
                execution_actions.router,
                debug.router,
                pauses.router,
                nodes.router,
                credentials.router,
                admin.router,
                triggers.router,
                templates.router,
                variables.router,
            ),
            console.router(console.console_dir()),  # last: the console's catch-all sees only what no other route claims
        )

    def configure(self, app: FastAPI) -> None:
        app.state.platform = self.platform
        app.state.webhooks = self.webhooks
        app.state.guard = self.guard
        app.state.memberships = self.memberships
        app.state.owners = self.owners
        app.state.accounts = self.accounts
        app.state.audit = self.audit
        app.state.vault = self.vault
        app.state.first_run = self.first_run
        app.state.rate_limits = self.rate_limits
        document_errors(app)
        errors.install(app)  # innermost: the last-resort 500 passes through everything below
        app.add_middleware(
            RequestLimits, limit=self._settings.max_body_bytes, max_json_depth=self._settings.max_json_depth
        )
        app.add_middleware(RateLimiting, limits=self.rate_limits)  # before any body is read
        app.add_middleware(console_session.CookieSession)
        app.add_middleware(RequestMetrics, registry=self._registry)
        app.add_middleware(SecurityHeaders)  # outermost: on every answer
        if telemetry.tracing_enabled():
            # a server span per request, the parent of everything the request causes across the services
            FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> GatewayRuntime:
    return GatewayRuntime(settings, bus, registry)
