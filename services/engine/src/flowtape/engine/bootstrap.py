"""The engine's composition root: the only place that builds its connections."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from flowtape.common.backup_tables import DataSource, ServiceBackup, TableBackup
from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, creating, is_sqlite, ping
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.connectors import GetNodeCatalog
from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.common.nodes.sdk import NodeType
from flowtape.common.ops import Check
from flowtape.common.resume_tokens import ResumeTokens
from flowtape.common.settings import Settings
from flowtape.engine import bus as handlers
from flowtape.engine.admission import Admissions
from flowtape.engine.application import Engine
from flowtape.engine.archive import RunArchive, open_archive
from flowtape.engine.bulk_replays import BulkReplays
from flowtape.engine.catalog import NodeCatalog
from flowtape.engine.commands import ExecutionCommands
from flowtape.engine.dead_letters import DeadLetters
from flowtape.engine.decisions import Decisions
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.outbox import Outbox
from flowtape.engine.partitions import Leases, Partitions
from flowtape.engine.pauses import REFRESH_SECONDS, RunPauses
from flowtape.engine.projections import SCHEMA, Projections
from flowtape.engine.queries import ExecutionQueries
from flowtape.engine.quotas import Quotas
from flowtape.engine.rebuild import Rebuilds
from flowtape.engine.recovery import Recovery
from flowtape.engine.retention import Retention, RetentionPolicy
from flowtape.engine.run_variables import RunVariables
from flowtape.engine.settings import EngineSettings
from flowtape.engine.static_data import StaticDataStore
from flowtape.engine.store import ExecutionLog, LogWriter, WorkflowStore, open_event_log, sqlite_events_path
from flowtape.engine.workflows import Workflows

log = logging.getLogger("flowtape.engine")
#: tables a backup leaves out: which replica holds what, dead letters (messages of the old broker) and notices in
#: flight (the outbox is drained before a backup is worth taking)
BACKUP_SKIPS = frozenset(
    {"engine_replicas", "partition_leases", "dead_letters", "pending_notices", "projection_failures"}
)

#: how often overdue node tasks are looked for
SWEEP_SECONDS = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


def inline_nodes(
    classes: Iterable[type[NodeType[Any]]],
) -> tuple[dict[str, NodeType[Any]], dict[tuple[str, int], NodeType[Any]]]:
    """The node types the engine evaluates itself: the latest version of each, and the others by version."""
    inline: dict[str, NodeType[Any]] = {}
    older: dict[tuple[str, int], NodeType[Any]] = {}
    for cls in sorted((cls for cls in classes if cls.pure), key=lambda cls: cls.version):
        if cls.type in inline:
            previous = inline[cls.type]
            older[(cls.type, type(previous).version)] = previous
        inline[cls.type] = cls()
    return inline, older


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

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        registry: CollectorRegistry | None = None,
        engine: EngineSettings | None = None,
    ) -> None:
        self._settings = settings
        self._engine_settings = engine or EngineSettings()
        self._metrics = EngineMetrics(registry)
        self._bus = bus
        self._url = settings.database_url_for("engine")
        self.catalog = NodeCatalog()
        self._started: list[Any] = []
        #: this process among the engine replicas (leases name it)
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._background: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        await _create_schema(self._url)
        # read model, leases, admissions, quotas: enough connections for the concurrent starts a partition
        # prefetches not to open and close overflow ones, and no ping per checkout (a statement that meets a
        # connection the database closed fails once, its message is retried, and the pool reconnects)
        self._db = async_engine(self._url, SCHEMA, pool_size=10, pre_ping=False)
        self.projections = Projections(self._db)
        self.dead_letters = DeadLetters(self._db, self._bus, self._metrics.dead_letters)
        self.leases = Leases(self._db, self.replica, _now)
        self.admissions = Admissions(self._db, _now)
        async with creating(self._db, "flowtape.engine.tables"):
            await self.projections.create()
            self.workflow_store, self.execution_log = await asyncio.to_thread(
                lambda: (
                    open_event_log(WorkflowStore, self._url, SCHEMA, pool_size=2),
                    open_event_log(ExecutionLog, self._url, SCHEMA),
                )
            )
            await self.dead_letters.create()
            await self.leases.create()
            await self.admissions.create()
        await self.projections.catch_up(self.workflow_store)
        await self.projections.catch_up(self.execution_log)
        self._workflow_writer = LogWriter(self.workflow_store, self.projections.apply)
        self._execution_writer = LogWriter(self.execution_log, self.projections.apply)
        self._workflow_writer.start()
        self._execution_writer.start()
        self.outbox = Outbox(self._bus, self.projections.notices_published)
        self._metrics.outbox_backlog.set_function(self.outbox.backlog)
        self.workflows = Workflows(
            store=self.workflow_store,
            writer=self._workflow_writer,
            projections=self.projections,
            catalog=self.catalog,
            bus=self._bus,
            outbox=self.outbox,
            limits=self._settings.limits,
        )
        inline, older = inline_nodes(BUILTIN_NODES)
        self.static_data = StaticDataStore(self.workflow_store, self._workflow_writer)
        self.decisions = Decisions(
            store=self.execution_log,
            writer=self._execution_writer,
            workflows=self.workflows,
            outbox=self.outbox,
            clock=_now,
            inline=inline,
            metrics=self._metrics,
            limits=self._settings.limits,
            older=older,
            static_data=self.static_data,
            resume_tokens=ResumeTokens(self._settings.secret_key, self._settings.public_url),
            max_call_depth=self._engine_settings.max_call_depth,
        )
        self.quotas = Quotas(self._db, self.projections, self._execution_writer.projected, _now)
        await self.quotas.create()
        self.commands = ExecutionCommands(
            decisions=self.decisions,
            workflows=self.workflows,
            projections=self.projections,
            clock=_now,
            limits=self._settings.limits,
            variables=RunVariables(self._bus, self._settings.request_timeout_seconds),
            admissions=self.admissions,
            quotas=self.quotas,
        )
        self.pauses = RunPauses(
            admissions=self.admissions, decisions=self.decisions, workflows=self.workflows, bus=self._bus
        )
        self.decisions.paused = await self.admissions.paused()
        self.queries = ExecutionQueries(
            store=self.execution_log,
            writer=self._execution_writer,
            decisions=self.decisions,
            workflows=self.workflows,
            projections=self.projections,
            inline=inline,
        )
        self.recovery = Recovery(
            decisions=self.decisions,
            workflows=self.workflows,
            projections=self.projections,
            outbox=self.outbox,
            clock=_now,
        )
        self.partitions = Partitions(
            bus=self._bus,
            leases=self.leases,
            decisions=self.decisions,
            handlers=handlers.partition_handlers(self.commands),
            catch_up=lambda: self.projections.catch_up(self.execution_log),
            resume=self.recovery.recover,
            metrics=self._metrics,
        )
        self.bulk_replays = BulkReplays(
            engine=self._db,
            bus=self._bus,
            projections=self.projections,
            decisions=self.decisions,
            workflows=self.workflows,
            queries=self.queries,
            replica=self.replica,
            clock=_now,
        )
        await self.bulk_replays.create()
        self.rebuilds = Rebuilds(self.projections, [self.workflow_store, self.execution_log])
        self.retention = Retention(
            store=self.execution_log,
            projections=self.projections,
            workflows=self.workflows,
            decisions=self.decisions,
            policy=RetentionPolicy(
                days=self._engine_settings.retention_days,
                runs=self._engine_settings.retention_runs,
                failed_days=self._engine_settings.retention_failed_days,
            ),
            clock=_now,
            archive=self._archive(),
        )
        self.engine = Engine(
            commands=self.commands,
            queries=self.queries,
            workflows=self.workflows,
            catalog=self.catalog,
            pauses=self.pauses,
            bulk_replays=self.bulk_replays,
            quotas=self.quotas,
            rebuilds=self.rebuilds,
            dead_letters=self.dead_letters,
            retention=self.retention,
        )

    def _archive(self) -> RunArchive | None:
        secret = self._engine_settings.retention_archive_s3_secret_access_key
        return open_archive(
            self._engine_settings.retention_archive,
            endpoint_url=self._engine_settings.retention_archive_s3_endpoint_url,
            region=self._engine_settings.retention_archive_s3_region,
            access_key_id=self._engine_settings.retention_archive_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.replica, self.engine, self._backup().handlers())

    def _backup(self) -> ServiceBackup:
        sources = [DataSource(self._db, SCHEMA, skip=BACKUP_SKIPS)]
        if is_sqlite(self._url):  # the log is a file of its own (its large-event blobs are files beside it)
            self._log_db = async_engine(f"sqlite:///{sqlite_events_path(self._url)}", SCHEMA, pool_size=1)
            sources.append(DataSource(self._log_db, SCHEMA, "log."))
        watched: dict[str, tuple[str, int]]
        if is_sqlite(self._url):  # both logs share one table there
            watched = {"log.stored_events": ("workflow and execution events", 0)}
        else:
            watched = {"workflows_events": ("workflow events", 0), "executions_events": ("execution events", 0)}
        return ServiceBackup("engine", TableBackup("engine", sources), watched, after_restore=self._restored)

    async def _restored(self) -> None:
        """Nothing cached may predate the restored log."""
        self.workflows.forget_all()
        self.quotas.forget()

    async def started(self) -> None:
        self.outbox.start()
        self._background = [
            asyncio.create_task(self._learn_catalog()),
            asyncio.create_task(self._sweep()),
            asyncio.create_task(self._refresh_pauses()),
        ]
        if self._engine_settings.retention_interval_seconds > 0:
            self._background.append(asyncio.create_task(self._apply_retention()))
        await self.partitions.start()
        log.info("engine replica %s decides partitions %s", self.replica, self.partitions.held)

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

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.recovery.sweep()
            except Exception:
                log.exception("the overdue-task sweep failed; it runs again shortly")

    async def _refresh_pauses(self) -> None:
        """Re-read the pauses now and then (a lost broadcast); the replica deciding partition 0 also repairs
        admissions a crash left behind."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.pauses.refresh(reconcile=0 in self.partitions.held)
            except Exception:
                log.exception("refreshing the pauses of runs failed; it is tried again shortly")

    async def _apply_retention(self) -> None:
        """Prune by policy now and then; the replica deciding partition 0 does it, so replicas do not race."""
        while True:
            await asyncio.sleep(self._engine_settings.retention_interval_seconds)
            if 0 not in self.partitions.held:
                continue
            try:
                await self.retention.run(dry_run=False)
            except Exception:
                log.exception("applying the retention policies failed; they are applied again shortly")

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        if hasattr(self, "decisions"):
            await self.decisions.stop()  # no timer may decide anything once stopping began
            await self.pauses.stop()
            await self.bulk_replays.stop()
            await self.partitions.stop()
            await self.outbox.stop()
            await self._execution_writer.stop()
            await self._workflow_writer.stop()
            await asyncio.to_thread(self.execution_log.close)
            await asyncio.to_thread(self.workflow_store.close)
            await self._db.dispose()
        if hasattr(self, "_log_db"):
            await self._log_db.dispose()

    def checks(self) -> Mapping[str, Check]:
        return {"database": lambda: ping(self._db)}

    def status_details(self) -> dict[str, Any]:
        """What ``flowtape admin status`` shows of this replica beside its readiness: the partitions it decides."""
        partitions = getattr(self, "partitions", None)
        return {"partitions": partitions.held if partitions is not None else []}


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> EngineRuntime:
    return EngineRuntime(settings, bus, registry)
