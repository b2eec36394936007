"""How a service runs: its runtime's life cycle around a bus, and the HTTP app that serves it.

One composition, two ways to run: ``flowtape serve <service>`` hosts one runtime on RabbitMQ; ``flowtape up``
hosts all five on the in-process bus. The order matters and is the same for both: open stores, subscribe,
start the bus, then let each runtime do what needs the bus (ask peers, recover work).
"""

from __future__ import annotations

import gc
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from flowtape.common.api_docs import docs_router
from flowtape.common.bus import Bus
from flowtape.common.bus.factory import rabbit_bus
from flowtape.common.messages.ops import ReplicaStatus, StatusAsked
from flowtape.common.ops import Check, ops_router
from flowtape.common.settings import Settings
from flowtape.common.topology import status_broadcast


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
        replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        for runtime in runtimes:
            runtime.subscribe(bus)
            answer_status(bus, runtime, replica)
        await bus.start()
        for runtime in runtimes:
            await runtime.started()
        yield
    finally:
        await bus.stop()
        for runtime in reversed(opened):
            await runtime.close()


#: allocations between young-generation collections, instead of CPython's 700 (see :func:`settle_heap`)
YOUNG_COLLECTION_THRESHOLD = 30_000


def settle_heap() -> None:
    """Leave what start-up built (modules, schemas, routes: ~200,000 objects) out of the cycle collector's scans,
    and collect the young generation less often. For a service process, called by the CLI once its app is built
    (not by :func:`running`, which tests also enter inside their own process).

    Otherwise every full collection walked all of it again while requests waited (the engine stalled up to ~200 ms,
    the gateway ~170 ms), and a young collection every 700 allocations cost the engine ~0.4 ms each, hundreds of
    times a second under load. Objects made later are collected as usual, only in larger steps (the threshold
    measured best of 700, 7,000 and 30,000 in docs/benchmarks.md, with the same memory). ``python_gc_*`` in
    /metrics shows the collections."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def _version(service: str) -> str:
    try:
        return metadata.version(f"flowtape-{service}")
    except metadata.PackageNotFoundError:
        return "unknown"


async def run_checks(checks: Mapping[str, Check]) -> dict[str, bool]:
    """Each check's answer (a check that raises is a failed one): what ``/readyz`` and the status report say."""
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = bool(await check())
        except Exception:
            results[name] = False
    return results


def answer_status(bus: Bus, runtime: Runtime, replica: str) -> None:
    """Answer ``flowtape admin status``: this replica of ``runtime``, its version, readiness and partitions."""
    version = _version(runtime.name)
    details: Any = getattr(runtime, "status_details", None)

    async def asked(message: StatusAsked) -> None:
        checks = await run_checks({"broker": bus.ping, **runtime.checks()})
        status = ReplicaStatus(
            **message.caused(),
            service=runtime.name,
            replica=replica,
            version=version,
            ready=all(checks.values()),
            checks=checks,
            **(details() if details is not None else {}),
        )
        await bus.publish_to_queue(message.reply_queue, status.encode())

    bus.subscribe(status_broadcast(runtime.name, replica), {StatusAsked: asked}, prefetch=1)


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


def process_registry() -> CollectorRegistry:
    """A registry per process with the process's own CPU, memory and garbage collections, as dashboards expect."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


#: a service's ``bootstrap.build``: its runtime on this bus, its metrics in this registry
Build = Callable[[Settings, Bus, CollectorRegistry], Runtime]


def service_app(name: str, settings: Settings, build: Build) -> FastAPI:
    """One service alone on RabbitMQ (``flowtape serve <name>``); each service's ``app.create_app`` is this."""
    registry = process_registry()
    bus = rabbit_bus(settings.amqp_url, name, registry)
    return build_app(bus, [build(settings, bus, registry)], registry, title=f"Flowtape {name}")


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
