"""How a service runs: its runtime's life cycle around a bus, and the HTTP app that serves it.

One composition, two ways to run: ``flowtape serve <service>`` hosts one runtime on RabbitMQ; ``flowtape up``
hosts all five on the in-process bus. The order matters and is the same for both: open stores, subscribe,
start the bus, then let each runtime do what needs the bus (ask peers, recover work).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from flowtape.common.api_docs import docs_router
from flowtape.common.bus import Bus
from flowtape.common.ops import Check, ops_router


class Runtime(Protocol):
    name: str

    async def open(self) -> None:
        """Connect to the service's own database and create what is missing."""

    def subscribe(self, bus: Bus) -> None:
        """Register the service's bus handlers (before the bus starts)."""

    async def started(self) -> None:
        """Work that needs the running bus: ask peers, resume unfinished work."""

    async def close(self) -> None: ...

    def checks(self) -> Mapping[str, Check]: ...

    def routers(self) -> Sequence[APIRouter]: ...

    def configure(self, app: FastAPI) -> None:
        """Add middleware and exception handlers (the gateway's API needs them)."""


@asynccontextmanager
async def running(bus: Bus, runtimes: Sequence[Runtime]) -> AsyncIterator[None]:
    opened: list[Runtime] = []
    try:
        for runtime in runtimes:
            await runtime.open()
            opened.append(runtime)
        for runtime in runtimes:
            runtime.subscribe(bus)
        await bus.start()
        for runtime in runtimes:
            await runtime.started()
        yield
    finally:
        await bus.stop()
        for runtime in reversed(opened):
            await runtime.close()


def build_app(bus: Bus, runtimes: Sequence[Runtime], registry: CollectorRegistry, *, title: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(bus, runtimes):
            yield

    app = FastAPI(
        title=title,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served by docs_router: without a CDN, without inline script
        redoc_url=None,
    )

    def checks() -> dict[str, Check]:
        merged: dict[str, Check] = {"broker": bus.ping}
        for runtime in runtimes:
            merged.update({f"{runtime.name}.{k}": v for k, v in runtime.checks().items()})
        return merged

    app.include_router(ops_router(registry, checks))
    app.include_router(docs_router(title))
    for runtime in runtimes:
        runtime.configure(app)
        for router in runtime.routers():
            app.include_router(router)
    return app


class BaseRuntime:
    """Defaults for a runtime with nothing to add at a step."""

    name = "service"

    async def open(self) -> None:
        return None

    def subscribe(self, bus: Bus) -> None:
        return None

    async def started(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def checks(self) -> Mapping[str, Check]:
        return {}

    def routers(self) -> Sequence[APIRouter]:
        return ()

    def configure(self, app: FastAPI) -> None:
        return None
