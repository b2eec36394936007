"""Request and response bodies of the public API (what the OpenAPI document shows)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: list[dict[str, Any]] = Field(default_factory=list, description="the trigger items")
    version: int | None = Field(default=None, ge=1, description="run this version instead of the latest")


class ExecutionAccepted(BaseModel):
    execution_id: str
