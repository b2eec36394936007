"""Settings from ``FLOWTAPE_*`` environment variables (and an optional ``.env``), names as in API.md.

Unset broker and database URLs mean the embedded default: the in-process bus and SQLite files under
``data_dir``. Outside development a default secret key is refused, so a production deployment cannot run
with the key everyone can read in this file.

These are the settings more than one service reads (and the process's own: port, logs); a setting only one
service reads is in that service's ``settings.py``, under the same ``FLOWTAPE_*`` name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    max_workflow_nodes: int = Field(default=DEFAULT_MAX_WORKFLOW_NODES, ge=1)
    max_workflow_edges: int = Field(default=DEFAULT_MAX_WORKFLOW_EDGES, ge=0)
    #: runs of one workflow under way at once (waiting runs do not count); a start beyond it is a 429
    max_queued_runs_per_workflow: int = Field(default=DEFAULT_MAX_QUEUED_RUNS, ge=1)
    #: CIDRs and host names outgoing node connections may reach despite the SSRF guard (see :mod:`egress`)
    egress_allow: str = ""
    #: the address clients reach the gateway at (``https://flows.example.com``): resume URLs of waits for a call
    #: are built on it; unset, they are paths (``/hooks/resume/<token>``)
    public_url: str | None = None

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
