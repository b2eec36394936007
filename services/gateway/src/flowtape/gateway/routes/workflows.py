"""``/api/v1/workflows``: definitions, their versions, activation and runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from flowtape.common.messages import engine as msg
from flowtape.common.views import Execution, Workflow, WorkflowPage, WorkflowVersions
from flowtape.common.workflow import WorkflowDefinition
from flowtape.gateway.deps import Editor, Operator, PlatformDep, Viewer
from flowtape.gateway.schemas import ExecutionAccepted, RunRequest

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


def _definition(body: WorkflowDefinition) -> dict[str, Any]:
    return body.dump()


@router.post("", status_code=201, response_model=Workflow)
async def create_workflow(body: WorkflowDefinition, platform: PlatformDep, who: Editor) -> Any:
    return await platform.ask(msg.CreateWorkflow(definition=_definition(body), actor=who.actor()))


@router.get("", response_model=WorkflowPage)
async def list_workflows(
    platform: PlatformDep, _: Viewer, limit: int = Query(50, ge=1, le=500), cursor: str | None = None
) -> Any:
    return await platform.ask(msg.ListWorkflows(limit=limit, cursor=cursor))


@router.get("/{workflow_id}", response_model=Workflow)
async def get_workflow(workflow_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id))


@router.put("/{workflow_id}", response_model=Workflow)
async def update_workflow(workflow_id: str, body: WorkflowDefinition, platform: PlatformDep, who: Editor) -> Any:
    return await platform.ask(
        msg.UpdateWorkflow(workflow_id=workflow_id, definition=_definition(body), actor=who.actor())
    )


@router.delete("/{workflow_id}")
async def delete_workflow(workflow_id: str, platform: PlatformDep, who: Editor) -> Any:
    return await platform.ask(msg.DeleteWorkflow(workflow_id=workflow_id, actor=who.actor()))


@router.get("/{workflow_id}/versions", response_model=WorkflowVersions)
async def list_versions(workflow_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.ListWorkflowVersions(workflow_id=workflow_id))


@router.get("/{workflow_id}/versions/{version}", response_model=Workflow)
async def get_version(workflow_id: str, version: int, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id, version=version))


@router.post("/{workflow_id}/activate", response_model=Workflow)
async def activate(workflow_id: str, platform: PlatformDep, who: Editor) -> Any:
    return await platform.ask(msg.SetWorkflowActive(workflow_id=workflow_id, active=True, actor=who.actor()))


@router.post("/{workflow_id}/deactivate", response_model=Workflow)
async def deactivate(workflow_id: str, platform: PlatformDep, who: Editor) -> Any:
    return await platform.ask(msg.SetWorkflowActive(workflow_id=workflow_id, active=False, actor=who.actor()))


@router.post(
    "/{workflow_id}/run",
    status_code=202,
    response_model=ExecutionAccepted,
    responses={200: {"model": Execution, "description": "with ?wait=true: the finished execution"}},
)
async def run_workflow(
    workflow_id: str,
    platform: PlatformDep,
    _: Operator,
    body: RunRequest | None = None,
    wait: bool = False,
    timeout: float = Query(30.0, gt=0, le=3600),
) -> Any:
    request = body or RunRequest()
    started = await platform.run_workflow(
        workflow_id, request.input, wait=wait, timeout=timeout, version=request.version
    )
    if wait and started.execution is not None:
        return Response(started.execution.model_dump_json(), media_type="application/json")
    return {"execution_id": started.execution_id}
