"""The kill switch: pause and resume runs, of every workflow or of one.

A pause stops new starts (they are accepted and queue, status ``queued``, and start on resume) and holds running
runs at their next decision (status ``paused``); resume starts the queued ones (within each workflow's
``settings.max_concurrent_runs``) and lets the held ones go on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from flowtape.common.messages import engine as msg
from flowtape.gateway.deps import SIGNED_IN, AccessDep, Admin, OwnersDep, PlatformDep, Viewer, WorkflowOperator

router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=SIGNED_IN)


class RunPauses(BaseModel):
    all: bool = Field(description="every workflow's runs are paused")
    workflows: list[str] = Field(description="workflows whose runs are paused on their own")


@router.get("/admin/pause", response_model=RunPauses)
async def pauses(platform: PlatformDep, owners: OwnersDep, _: Viewer, reach: AccessDep) -> Any:
    """Whether everything is paused, and which of the caller's workflows are."""
    found = await platform.ask(msg.GetRunPauses(), into=RunPauses)
    if reach.everywhere is None:
        visible = [w for w in found.workflows if reach.role_in(await owners.project_or_none("workflow", w) or "")]
        found = found.model_copy(update={"workflows": visible})
    return found


@router.post("/admin/pause", response_model=RunPauses)
async def pause_all(platform: PlatformDep, who: Admin) -> Any:
    """Every project's runs: a platform admin's switch."""
    return await platform.ask(msg.PauseRuns(paused=True, actor=who.actor()))


@router.post("/admin/resume", response_model=RunPauses)
async def resume_all(platform: PlatformDep, who: Admin) -> Any:
    return await platform.ask(msg.PauseRuns(paused=False, actor=who.actor()))


@router.post("/workflows/{workflow_id}/pause", response_model=RunPauses)
async def pause_workflow(workflow_id: str, platform: PlatformDep, who: WorkflowOperator) -> Any:
    return await platform.ask(msg.PauseRuns(workflow_id=workflow_id, paused=True, actor=who.actor()))


@router.post("/workflows/{workflow_id}/resume", response_model=RunPauses)
async def resume_workflow(workflow_id: str, platform: PlatformDep, who: WorkflowOperator) -> Any:
    return await platform.ask(msg.PauseRuns(workflow_id=workflow_id, paused=False, actor=who.actor()))
