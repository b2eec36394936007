"""The gateway's HTTP entry point: its routers in the order they must match, and the middleware around them.

:func:`create_app` is the gateway running alone on RabbitMQ (``flowtape serve gateway``); ``flowtape up`` puts
the same routers and middleware into the one app of the embedded platform, through the runtime of
:mod:`flowtape.gateway.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CollectorRegistry

from flowtape.common import telemetry
from flowtape.common.hosting import service_app
from flowtape.common.settings import Settings
from flowtape.gateway import console, console_session, errors
from flowtape.gateway.api_schema import document_errors
from flowtape.gateway.application import Gateway
from flowtape.gateway.deps import secured
from flowtape.gateway.middleware import RateLimiting, RequestLimits, RequestMetrics, SecurityHeaders
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


def routers() -> Sequence[APIRouter]:
    """In the order they must match. FastAPI tries every route in turn (~3 µs each), so the paths every run takes
    come first where no earlier route could claim them: the webhooks (resume URLs before the webhook catch-all),
    then workflows and executions, ahead of the sign-in routes that share no prefix with them (tests/test_routing.py
    checks that no route claims the paths of one declared after it)."""
    return (
        resume.router,
        hooks.router,
        *secured(
            workflows.router,
            pins.router,
            bulk_replays.router,  # before executions': /executions/replay is not an execution id
            executions.router,
            execution_actions.router,
            debug.router,
        ),
        auth.public_router,  # before the signed-in auth and SSO routes under the same prefix
        sso.public_router,
        console_session.router,
        credentials.public_router,
        *secured(
            auth.router,
            sso.router,
            projects.router,
            users.router,
            api_keys.router,
            audit.router,
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


def configure(app: FastAPI, gateway: Gateway, settings: Settings, registry: CollectorRegistry) -> None:
    """``gateway`` on ``app.state`` for the routes' dependencies, then the middleware, innermost first."""
    app.state.gateway = gateway
    document_errors(app)
    errors.install(app)  # innermost: the last-resort 500 passes through everything below
    app.add_middleware(RequestLimits, limit=settings.max_body_bytes, max_json_depth=settings.max_json_depth)
    app.add_middleware(RateLimiting, limits=gateway.rate_limits)  # before any body is read
    app.add_middleware(console_session.CookieSession)
    app.add_middleware(RequestMetrics, registry=registry)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer
    if telemetry.tracing_enabled():
        # a server span per request, the parent of everything the request causes across the services
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def create_app(settings: Settings) -> FastAPI:
    """The gateway alone on RabbitMQ (``flowtape serve gateway``)."""
    from flowtape.gateway import bootstrap  # bootstrap's runtime serves this module's routers: import it late

    return service_app("gateway", settings, bootstrap.build)
