"""Bulk replay by query: replay every run of a workflow that matches, a canary first, as a job with progress."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages import engine as msg
from flowtape.common.views import BulkReplayJob, ExecutionStatus
from flowtape.gateway.deps import SIGNED_IN, AccessDep, BulkReplayViewer, Operator, OwnersDep, PlatformDep

router = APIRouter(prefix="/api/v1/executions/replay", tags=["executions"], dependencies=SIGNED_IN)


class BulkReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(min_length=1, max_length=64)
    status: ExecutionStatus = Field(default="failed", description="replay the runs with this status")
    since: datetime | None = Field(default=None, description="only runs started at or after this time")
    from_node: str | None = Field(
        default=None, min_length=1, max_length=128, description="default: each run's failed node"
    )
    workflow_version: Literal["original", "latest"] | Annotated[int, Field(ge=1)] = "original"
    canary: int = Field(default=0, ge=0, le=10_000, description="replay this many first; the rest only if all succeed")
    parallelism: int = Field(default=4, ge=1, le=64, description="replays at a time")
    dry_run: bool = Field(default=False, description="start nothing: list the runs and which would take another path")


@router.post("", status_code=202, response_model=BulkReplayJob)
async def start_bulk_replay(
    body: BulkReplayRequest, platform: PlatformDep, owners: OwnersDep, _: Operator, reach: AccessDep
) -> Any:
    """Select the runs (oldest first) and start replaying them; a dry run answers the finished plan. The caller
    must be an operator in the workflow's project."""
    await owners.check(reach, "workflow", body.workflow_id, "operator")
    return await platform.ask(msg.StartBulkReplay(**body.model_dump(), actor=reach.actor()))


@router.get("/{job_id}", response_model=BulkReplayJob)
async def get_bulk_replay(job_id: str, platform: PlatformDep, _: BulkReplayViewer) -> Any:
    return await platform.ask(msg.GetBulkReplay(job_id=job_id))
