"""The engine's own settings, beside the platform's common ones: how deep calls nest and how long runs are kept.

The variable names are the platform's (``FLOWTAPE_MAX_CALL_DEPTH``, ``FLOWTAPE_RETENTION_*``): they are read
here, where they are used, instead of in every service's settings. Nothing is read until a runtime is built
(:mod:`flowtape.engine.bootstrap`); tests hand a runtime one of their own.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_", env_file=".env", extra="ignore")

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
