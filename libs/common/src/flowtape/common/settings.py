"""Settings from ``FLOWTAPE_*`` environment variables (and an optional ``.env``), names as in API.md.

Unset broker and database URLs mean the embedded default: the in-process bus and SQLite files under
``data_dir``. Outside development a default secret key is refused, so a production deployment cannot run
with the key everyone can read in this file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowtape.common.binary import DEFAULT_MAX_BINARY_BYTES
from flowtape.common.egress import EgressPolicy
from flowtape.common.limits import (
    DEFAULT_MAX_ITEMS_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_QUEUED_RUNS,
    DEFAULT_MAX_WORKFLOW_EDGES,
    DEFAULT_MAX_WORKFLOW_NODES,
    Limits,
)

ServiceName = Literal["gateway", "auth", "triggers", "engine", "connectors"]
SERVICES: tuple[ServiceName, ...] = ("gateway", "auth", "triggers", "engine", "connectors")
DEFAULT_PORTS: dict[ServiceName, int] = {
    "gateway": 8080,
    "auth": 8081,
    "triggers": 8082,
    "engine": 8083,
    "connectors": 8084,
}
DEVELOPMENT_SECRET = "flowtape-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    amqp_url: str | None = None
    database_url: str | None = None
    port: int | None = None
    host: str = "127.0.0.1"
    secret_key: str = DEVELOPMENT_SECRET
    data_dir: Path = Path(".flowtape")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    max_json_depth: int = Field(default=DEFAULT_MAX_JSON_DEPTH, ge=8, le=512)
    #: the largest JSON size of one node's output or one run's trigger items
    max_items_bytes: int = Field(default=DEFAULT_MAX_ITEMS_BYTES, ge=1024)
    #: the largest binary data (a file, a screenshot) one node may store; RabbitMQ's own message limit (128 MiB
    #: by default) bounds what a download can carry, base64-encoded
    max_binary_bytes: int = Field(default=DEFAULT_MAX_BINARY_BYTES, ge=1024, le=64 * 1024 * 1024)
    #: how long binary data is kept after the run that stored it (days)
    binary_retention_days: int = Field(default=30, ge=1)
    #: keep the bytes of binary data in this S3-compatible bucket instead of the connectors' database / data dir
    binary_s3_bucket: str | None = None
    binary_s3_endpoint_url: str | None = None
    binary_s3_region: str = "us-east-1"
    binary_s3_access_key_id: str | None = None
    binary_s3_secret_access_key: SecretStr | None = None
    binary_s3_prefix: str = "flowtape/binaries/"
    #: how long a browser node may take at most, whatever its own ``timeout`` says (seconds)
    browser_max_seconds: float = Field(default=120.0, gt=0, le=3600)
    #: the Chromium browser nodes drive (Debian's ``chromium``; never a downloaded build)
    browser_executable: Path = Path("/usr/bin/chromium")
    #: how many browser nodes one connectors process runs at once (one Chromium, a context each)
    browser_concurrency: int = Field(default=4, ge=1, le=64)
    #: ``namespaces``: Chromium under bubblewrap, without network, as uid 65534; ``none``: as the service user
    browser_isolation: Literal["namespaces", "none"] = "namespaces"
    max_workflow_nodes: int = Field(default=DEFAULT_MAX_WORKFLOW_NODES, ge=1)
    max_workflow_edges: int = Field(default=DEFAULT_MAX_WORKFLOW_EDGES, ge=0)
    #: runs of one workflow under way at once (waiting runs do not count); a start beyond it is a 429
    max_queued_runs_per_workflow: int = Field(default=DEFAULT_MAX_QUEUED_RUNS, ge=1)
    #: how many node tasks one connectors process runs at once
    connectors_concurrency: int = Field(default=64, ge=1)
    #: how code nodes are isolated: ``namespaces`` (bubblewrap; code nodes refuse to run where it cannot
    #: work) or ``process`` (a plain child process of the service's user: for trusted code only)
    code_isolation: Literal["namespaces", "process"] = "namespaces"
    #: ``per_workflow``: a workflow's ``settings.code_network: true`` gives its code nodes the host's network
    code_network: Literal["off", "per_workflow"] = "off"
    #: CIDRs and host names outgoing node connections may reach despite the SSRF guard (see :mod:`egress`)
    egress_allow: str = ""
    #: per-host limits on the connectors' outgoing requests, e.g. ``api.example.com=10/s:20,*.slack.com=1/s``
    egress_rate_limits: str = ""
    #: the address clients reach the gateway at (``https://flows.example.com``): resume URLs of waits for a call
    #: are built on it; unset, they are paths (``/hooks/resume/<token>``)
    public_url: str | None = None
    #: how deep execute_workflow calls may nest (a workflow calling itself stops there with a clear error)
    max_call_depth: int = Field(default=10, ge=1, le=100)
    #: retention (off by default): finished runs older than this many days are pruned from the log
    retention_days: int | None = Field(default=None, ge=0)
    #: keep only each workflow's newest N finished runs
    retention_runs: int | None = Field(default=None, ge=0)
    #: failed runs are kept this many days instead (set it longer than retention_days)
    retention_failed_days: int | None = Field(default=None, ge=0)
    #: how often the engine applies the policies (0: only when asked, ``flowtape admin retention``)
    retention_interval_seconds: float = Field(default=3600.0, ge=0)
    #: archive each run before pruning it: ``file:///path`` or ``s3://bucket/prefix`` (one JSON-lines file per run)
    retention_archive: str | None = None
    retention_archive_s3_endpoint_url: str | None = None
    retention_archive_s3_region: str = "us-east-1"
    retention_archive_s3_access_key_id: str | None = None
    retention_archive_s3_secret_access_key: SecretStr | None = None

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError("FLOWTAPE_SECRET_KEY must be set to a secret of your own in production")
        EgressPolicy.parse(self.egress_allow)
        return self

    @property
    def egress(self) -> EgressPolicy:
        return EgressPolicy.parse(self.egress_allow)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_json_depth=self.max_json_depth,
            max_items_bytes=self.max_items_bytes,
            max_workflow_nodes=self.max_workflow_nodes,
            max_workflow_edges=self.max_workflow_edges,
            max_queued_runs_per_workflow=self.max_queued_runs_per_workflow,
        )

    def port_for(self, service: ServiceName) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[service]

    def database_url_for(self, service: ServiceName) -> str:
        """``FLOWTAPE_<SERVICE>_DATABASE_URL``, else ``FLOWTAPE_DATABASE_URL``, else a SQLite file."""
        override = os.environ.get(f"FLOWTAPE_{service.upper()}_DATABASE_URL")
        if override:
            return override
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"
