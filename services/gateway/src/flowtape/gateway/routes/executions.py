"""``/api/v1/executions``: the runs, their logs and their state at any event."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from flowtape.common.messages import engine as msg
from flowtape.common.run_diff import diff_executions
from flowtape.gateway.deps import PlatformDep, Viewer
from flowtape.gateway.schemas import Execution, ExecutionDiff, ExecutionEvents, ExecutionPage

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])

Status = Literal["running", "waiting", "succeeded", "failed", "cancelled"]


@router.get("", response_model=ExecutionPage)
async def list_executions(
    platform: PlatformDep,
    _: Viewer,
    workflow_id: str | None = None,
    status: Status | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> Any:
    return await platform.ask(msg.ListExecutions(workflow_id=workflow_id, status=status, limit=limit, cursor=cursor))


@router.get("/{execution_id}", response_model=Execution)
async def get_execution(execution_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetExecution(execution_id=execution_id))


@router.get("/{execution_id}/events", response_model=ExecutionEvents)
async def get_events(execution_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetExecutionEvents(execution_id=execution_id))


@router.get("/{execution_id}/state", response_model=Execution)
async def get_state(execution_id: str, platform: PlatformDep, _: Viewer, at: int = Query(..., ge=1)) -> Any:
    return await platform.ask(msg.GetExecution(execution_id=execution_id, at=at))


@router.get("/{execution_id}/diff/{other_id}", response_model=ExecutionDiff)
async def diff(execution_id: str, other_id: str, platform: PlatformDep, _: Viewer) -> Any:
    """Node by node, what changed from run ``execution_id`` (a) to run ``other_id`` (b)."""
    a = await platform.ask(msg.GetExecution(execution_id=execution_id))
    b = await platform.ask(msg.GetExecution(execution_id=other_id))
    return diff_executions(a, b)
