"""The gateway's composition root: the public API on top of the bus, holding no data of its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from flowtape.common.bus import Bus
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.engine import ExecutionFinished
from flowtape.common.settings import Settings
from flowtape.common.topology import execution_finished_broadcast
from flowtape.gateway import errors
from flowtape.gateway.clients import Platform
from flowtape.gateway.finished import FinishedExecutions
from flowtape.gateway.middleware import BodyLimit, RequestMetrics
from flowtape.gateway.routes import executions, nodes, workflows


class GatewayRuntime(BaseRuntime):
    name = "gateway"

    def __init__(self, settings: Settings, bus: Bus, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._registry = registry
        self.finished = FinishedExecutions()
        self.platform = Platform(bus, self.finished, settings.request_timeout_seconds)
        self._replica = uuid.uuid4().hex[:12]

    def subscribe(self, bus: Bus) -> None:
        bus.subscribe(
            execution_finished_broadcast(self._replica), {ExecutionFinished: self.finished.on_finished}, prefetch=64
        )

    def routers(self) -> Sequence[APIRouter]:
        return (workflows.router, executions.router, nodes.router)

    def configure(self, app: FastAPI) -> None:
        app.state.platform = self.platform
        errors.install(app)
        app.add_middleware(BodyLimit, limit=self._settings.max_body_bytes)
        app.add_middleware(RequestMetrics, registry=self._registry)


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> GatewayRuntime:
    return GatewayRuntime(settings, bus, registry)
