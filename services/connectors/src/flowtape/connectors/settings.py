"""The connectors' own settings, beside the platform's common ones: how they run nodes, code, browsers and
binary data.

The variable names are the platform's (``FLOWTAPE_CODE_ISOLATION``, ``FLOWTAPE_BROWSER_CONCURRENCY``, ...): they
are read here, where they are used, instead of in every service's settings. Nothing is read until a runtime is
built (:mod:`flowtape.connectors.bootstrap`); tests hand a runtime one of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowtape.common.binary import DEFAULT_MAX_BINARY_BYTES


class ConnectorsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_", env_file=".env", extra="ignore")

    #: how many node tasks one connectors process runs at once
    connectors_concurrency: int = Field(default=64, ge=1)
    #: how code nodes are isolated: ``namespaces`` (bubblewrap; code nodes refuse to run where it cannot
    #: work) or ``process`` (a plain child process of the service's user: for trusted code only)
    code_isolation: Literal["namespaces", "process"] = "namespaces"
    #: ``per_workflow``: a workflow's ``settings.code_network: true`` gives its code nodes the host's network
    code_network: Literal["off", "per_workflow"] = "off"
    #: per-host limits on the connectors' outgoing requests, e.g. ``api.example.com=10/s:20,*.slack.com=1/s``
    egress_rate_limits: str = ""
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
