"""The engine's composition root: the only place that builds its connections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, is_sqlite, ping
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.connectors import GetNodeCatalog
from flowtape.common.ops import Check
from flowtape.common.settings import Settings
from flowtape.engine import bus as handlers
from flowtape.engine.application import Engine
from flowtape.engine.catalog import NodeCatalog
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.projections import SCHEMA, Projections
from flowtape.engine.store import ExecutionLog, LogWriter, WorkflowStore, event_store_env

log = logging.getLogger("flowtape.engine")


def _now() -> datetime:
    return datetime.now(UTC)


async def _create_schema(url: str) -> None:
    """eventsourcing needs its schema to exist before it creates its tables."""
    if is_sqlite(url):
        return
    from flowtape.common.db import ensure_schema

    engine = async_engine(url, SCHEMA, pool_size=1)
    try:
        await ensure_schema(engine, SCHEMA)
    finally:
        await engine.dispose()


class EngineRuntime(BaseRuntime):
    name = "engine"

    def __init__(self, settings: Settings, bus: Bus, registry: CollectorRegistry | None = None) -> None:
        self._settings = settings
        self._metrics = EngineMetrics(registry)
        self._bus = bus
        self._url = settings.database_url_for("engine")
        self.catalog = NodeCatalog()
        self._started: list[Any] = []
        self._catalog_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await _create_schema(self._url)
        self._db = async_engine(self._url, SCHEMA)
        self.projections = Projections(self._db)
        await self.projections.create()
        self.workflows, self.executions = await asyncio.to_thread(
            lambda: (
                WorkflowStore(env=event_store_env("workflows", self._url, SCHEMA, pool_size=2)),
                ExecutionLog(env=event_store_env("executions", self._url, SCHEMA)),
            )
        )
        await self.projections.catch_up(self.workflows)
        await self.projections.catch_up(self.executions)
        self._workflow_writer = LogWriter(self.workflows, self.projections.apply)
        self._execution_writer = LogWriter(self.executions, self.projections.apply)
        self._workflow_writer.start()
        self._execution_writer.start()
        self.engine = Engine(
            workflows=self.workflows,
            executions=self.executions,
            workflow_writer=self._workflow_writer,
            execution_writer=self._execution_writer,
            projections=self.projections,
            catalog=self.catalog,
            bus=self._bus,
            clock=_now,
            metrics=self._metrics,
        )

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.engine, self.catalog)

    async def started(self) -> None:
        self._catalog_task = asyncio.create_task(self._learn_catalog())
        recovered = await self.engine.recover()
        if recovered:
            log.info("resumed %d unfinished executions from their logs", recovered)

    async def _learn_catalog(self) -> None:
        """Ask the connectors for their catalog until one answers (they also publish it when they start)."""
        delay = 0.2
        while not self.catalog.entries:
            try:
                nodes = await self._bus.ask(GetNodeCatalog(), timeout=5)
                self.catalog.replace(nodes)
                return
            except Exception as exc:
                log.info("node catalog not available yet (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._catalog_task is not None:
            self._catalog_task.cancel()
        if hasattr(self, "engine"):
            self.engine.stop_timers()
            await self._execution_writer.stop()
            await self._workflow_writer.stop()
            await asyncio.to_thread(self.executions.close)
            await asyncio.to_thread(self.workflows.close)
            await self._db.dispose()

    def checks(self) -> Mapping[str, Check]:
        return {"database": lambda: ping(self._db)}


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> EngineRuntime:
    return EngineRuntime(settings, bus, registry)
