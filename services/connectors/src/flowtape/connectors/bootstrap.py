"""The connectors' composition root: one shared HTTP client, the code sandbox, the node registry, the
completed-task store and the credentials vault."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta

from prometheus_client import CollectorRegistry

from flowtape.common.backup_tables import DataSource, ServiceBackup, TableBackup
from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, ping
from flowtape.common.hosting import BaseRuntime
from flowtape.common.messages.connectors import NodeCatalogPublished
from flowtape.common.ops import Check
from flowtape.common.settings import Settings
from flowtape.connectors import bus as handlers
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.binaries import BinaryStore, S3Location, open_blob_store
from flowtape.connectors.completed import SCHEMA, CompletedTasks
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import CredentialChecks
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.domain.host_limits import HostLimits
from flowtape.connectors.isolation import isolation_for
from flowtape.connectors.keys import DataCipher
from flowtape.connectors.metrics import ConnectorMetrics
from flowtape.connectors.oauth2 import OAuth2Authorizations, OAuth2Tokens, SqlTokens
from flowtape.connectors.rate_limits import LocalLimits, PostgresLimits, RateLimits
from flowtape.connectors.registry import NodeRegistry
from flowtape.connectors.runtimes import LanguageUnavailable, node_runtime
from flowtape.connectors.sandbox import Sandbox
from flowtape.connectors.settings import ConnectorsSettings
from flowtape.connectors.variables import Variables, VariableStore
from flowtape.connectors.vault import Vault

log = logging.getLogger("flowtape.connectors")
CLEANUP_SECONDS = 3600.0
#: tables a backup leaves out: records of tasks run and rate-limit permits (they matter for minutes, not for good)
BACKUP_SKIPS = frozenset({"completed_tasks", "rate_permits"})


class ConnectorsRuntime(BaseRuntime):
    name = "connectors"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        registry: CollectorRegistry | None = None,
        connectors: ConnectorsSettings | None = None,
    ) -> None:
        self._settings = settings
        self._connectors_settings = connectors or ConnectorsSettings()
        self._metrics = ConnectorMetrics(registry)
        self._bus = bus
        self._replica = uuid.uuid4().hex[:12]
        self._cleanup: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._db = async_engine(self._settings.database_url_for("connectors"), SCHEMA)
        completed = CompletedTasks(self._db)
        await completed.create()
        self._completed = completed
        self.binaries = BinaryStore(
            self._db,
            open_blob_store(
                self._settings.database_url_for("connectors"),
                self._settings.data_dir,
                _binary_s3(self._connectors_settings),
            ),
            max_bytes=self._connectors_settings.max_binary_bytes,
            retention=timedelta(days=self._connectors_settings.binary_retention_days),
        )
        await self.binaries.create()
        store = CredentialStore(self._db)
        await store.create()
        self.vault = Vault(store, self._settings.secret_key)
        await self.vault.check_readable()
        variable_store = VariableStore(self._db)
        await variable_store.create()
        self.variables = Variables(variable_store, self._settings.secret_key)
        await self.variables.move_platform_variables()
        self.backup = ServiceBackup(
            "connectors",
            TableBackup("connectors", [DataSource(self._db, SCHEMA, skip=BACKUP_SKIPS)]),
            {"credentials": ("credentials", 0), "variables": ("variables", 0)},
            after_restore=self._after_restore,
        )
        if self._db.dialect.name == "postgresql":
            permits: LocalLimits | PostgresLimits = PostgresLimits(self._db)
            await permits.create()
        else:
            permits = LocalLimits()
        limits = RateLimits(permits, HostLimits.parse(self._connectors_settings.egress_rate_limits))
        token_store = SqlTokens(self._db, DataCipher(self._settings.secret_key))
        await token_store.create()
        tokens = OAuth2Tokens(token_store, self._settings.egress, self.vault.open)
        self.authorizations = OAuth2Authorizations(self.vault, tokens)
        self.connections = Connections(
            self._settings.egress,
            data_dir=self._settings.data_dir,
            limits=limits,
            tokens=tokens,
            browser_executable=self._connectors_settings.browser_executable,
            browser_max_seconds=self._connectors_settings.browser_max_seconds,
            browser_concurrency=self._connectors_settings.browser_concurrency,
            browser_isolation=self._connectors_settings.browser_isolation,
        )
        self.credential_checks = CredentialChecks(self.vault, self.connections)
        sandbox = Sandbox(isolation_for(self._connectors_settings.code_isolation))
        await self._check_code_isolation(sandbox)
        registry = NodeRegistry.default(
            self.connections.http,
            connections=self.connections,
            sandbox=sandbox,
            code_network_allowed=self._connectors_settings.code_network == "per_workflow",
        )
        self.runner = NodeRunner(
            registry,
            completed,
            self._metrics,
            self.vault,
            limits=self._settings.limits,
            binaries=self.binaries,
            variables=self.variables,
        )

    async def _after_restore(self) -> None:
        """A backup made before projects holds platform variables: they join the default project like on start."""
        await self.vault.check_restored()
        await self.variables.move_platform_variables()

    async def _check_code_isolation(self, sandbox: Sandbox) -> None:
        """Say at start-up how user code is isolated, or that code nodes will refuse to run and why."""
        problem = await sandbox.check()
        mode = sandbox.isolation.mode
        self._metrics.code_isolation.labels(mode).set(0 if problem else 1)
        if problem:
            log.error("code nodes will refuse to run: %s", problem)
        elif mode == "process":
            log.warning(sandbox.isolation.describe())
        else:
            log.info(sandbox.isolation.describe())
        try:
            log.info("JavaScript code nodes run on %s", node_runtime().node)
        except LanguageUnavailable as exc:
            log.warning("%s; Python code nodes are not affected", exc)

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(
            bus,
            self.runner,
            self.vault,
            self.binaries,
            self.credential_checks,
            self.authorizations,
            self.variables,
            self._connectors_settings.connectors_concurrency,
            self._replica,
            self.backup.handlers(),
        )

    async def started(self) -> None:
        await self._bus.publish(NodeCatalogPublished(nodes=self.runner.catalog()))
        self._cleanup = asyncio.create_task(self._forget_old())

    async def _forget_old(self) -> None:
        while True:
            try:
                await self._completed.forget_old()
                await self.binaries.forget_old()
            except Exception:
                log.exception("dropping old completed-task records or binary data failed; trying again later")
            await asyncio.sleep(CLEANUP_SECONDS)

    async def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cancel()
        if hasattr(self, "connections"):
            await self.connections.close()
        if hasattr(self, "binaries"):
            await asyncio.to_thread(self.binaries.close)
        if hasattr(self, "_db"):
            await self._db.dispose()

    def checks(self) -> Mapping[str, Check]:
        return {"database": lambda: ping(self._db)}


def _binary_s3(settings: ConnectorsSettings) -> S3Location | None:
    if not settings.binary_s3_bucket:
        return None
    if not settings.binary_s3_access_key_id or settings.binary_s3_secret_access_key is None:
        raise ValueError(
            "FLOWTAPE_BINARY_S3_BUCKET is set: set FLOWTAPE_BINARY_S3_ACCESS_KEY_ID and "
            "FLOWTAPE_BINARY_S3_SECRET_ACCESS_KEY too"
        )
    return S3Location(
        bucket=settings.binary_s3_bucket,
        access_key_id=settings.binary_s3_access_key_id,
        secret_access_key=settings.binary_s3_secret_access_key.get_secret_value(),
        endpoint_url=settings.binary_s3_endpoint_url,
        region=settings.binary_s3_region,
        prefix=settings.binary_s3_prefix,
    )


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> ConnectorsRuntime:
    return ConnectorsRuntime(settings, bus, registry)
