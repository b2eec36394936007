"""The connectors' composition root: one shared HTTP client, the node registry, the runner."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from flowtape.common.bus import Bus
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.connectors import NodeCatalogPublished
from flowtape.common.settings import Settings
from flowtape.connectors import bus as handlers
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.metrics import ConnectorMetrics
from flowtape.connectors.registry import NodeRegistry


class ConnectorsRuntime(BaseRuntime):
    name = "connectors"

    def __init__(self, settings: Settings, bus: Bus, registry: CollectorRegistry | None = None) -> None:
        self._settings = settings
        self._metrics = ConnectorMetrics(registry)
        self._bus = bus

    async def open(self) -> None:
        self._http = httpx.AsyncClient(follow_redirects=True, limits=httpx.Limits(max_connections=200))
        self.runner = NodeRunner(NodeRegistry.default(self._http), self._metrics)

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.runner, self._settings.connectors_concurrency)

    async def started(self) -> None:
        await self._bus.publish(NodeCatalogPublished(nodes=self.runner.catalog()))

    async def close(self) -> None:
        if hasattr(self, "_http"):
            await self._http.aclose()


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> ConnectorsRuntime:
    return ConnectorsRuntime(settings, bus, registry)
