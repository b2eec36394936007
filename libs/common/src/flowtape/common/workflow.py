"""The workflow definition language: what clients POST and what every version stores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowtape.common.limits import StoredText


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=100)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=300.0, ge=0)
    #: error codes worth another attempt (``timeout``, ``node_error``, ``node_crashed``, ...); None: any error
    retry_on: list[str] | None = Field(default=None, min_length=1)


#: what a node's failure means once its retries are spent: fail the run (the default), emit the error as an item
#: on ``main`` and go on, or send the items carrying the error to the node's ``error`` port
OnError = Literal["fail", "continue", "error_port"]
#: the port a node with ``on_error: error_port`` sends its failed items to
ERROR_PORT = "error"


class NodeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    type: StoredText = Field(min_length=1)
    #: the node type's version; filled in with the latest one when a workflow is saved, so a saved workflow
    #: keeps the version it was written for when a new one is registered (None: saved before versions were
    #: recorded, which means the earliest)
    version: int | None = Field(default=None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    on_error: OnError | None = None

    @property
    def error_handling(self) -> OnError:
        return self.on_error or "fail"


class EdgeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    port: str = "main"


class WorkflowDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StoredText = Field(min_length=1, max_length=200)
    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    #: labels to find workflows by (``GET /api/v1/workflows?tag=``); None keeps older definitions as they were
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, max_length=50)

    @field_validator("tags")
    @classmethod
    def _tags_once_each(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))

    @field_validator("settings")
    @classmethod
    def _settings_have_their_types(cls, settings: dict[str, Any]) -> dict[str, Any]:
        if "code_network" in settings and not isinstance(settings["code_network"], bool):
            raise ValueError("settings.code_network must be true or false")
        retention = settings.get("retention")
        if retention is not None:
            if not isinstance(retention, dict) or set(retention) - {"days", "runs", "failed_days"}:
                raise ValueError("settings.retention takes only days, runs and failed_days")
            for key, value in retention.items():
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise ValueError(f"settings.retention.{key} must be a whole number of at least 0, or null")
        limit = settings.get("max_concurrent_runs")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000):
            raise ValueError("settings.max_concurrent_runs must be a whole number from 1 to 100000, or null")
        return settings

    def dump(self) -> dict[str, Any]:
        """The JSON form clients see (edges keyed ``from``)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
