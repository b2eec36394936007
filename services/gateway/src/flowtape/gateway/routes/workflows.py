"""``/api/v1/workflows``: definitions, their versions, activation and runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from flowtape.common.errors import InvalidInput
from flowtape.common.messages import engine as msg
from flowtape.common.views import Execution, Workflow, WorkflowPage, WorkflowVersions
from flowtape.common.workflow import WorkflowDefinition
from flowtape.gateway.deps import (
    SIGNED_IN,
    AccessDep,
    Editor,
    GatewayDep,
    OwnersDep,
    PlatformDep,
    StepTestsDep,
    TransfersDep,
    Viewer,
    WorkflowEditor,
    WorkflowOperator,
    WorkflowViewer,
)
from flowtape.gateway.schemas import (
    DuplicateRequest,
    ExecutionAccepted,
    ImportReport,
    NewWorkflow,
    RunRequest,
    StepTestRequest,
    StepTestResult,
    WorkflowExport,
    WorkflowImport,
)

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"], dependencies=SIGNED_IN)


def _definition(body: WorkflowDefinition) -> dict[str, Any]:
    return body.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"project_id"})


ProjectQuery = Query(None, max_length=64, description="only this project's (one of yours)")


@router.post("", status_code=201, response_model=Workflow)
async def create_workflow(
    body: NewWorkflow, platform: PlatformDep, owners: OwnersDep, _: Editor, reach: AccessDep, gateway: GatewayDep
) -> Any:
    """In ``project_id`` (the caller's default project when omitted), where the caller must be an editor."""
    project = await gateway.target(reach, body.project_id, "editor")
    made = await platform.ask(msg.CreateWorkflow(definition=_definition(body), project_id=project, actor=reach.actor()))
    owners.learn("workflow", str(made["id"]), project)  # its runs are started without asking the engine again
    return made


@router.get("", response_model=WorkflowPage)
async def list_workflows(
    platform: PlatformDep,
    _: Viewer,
    reach: AccessDep,
    project_id: str | None = ProjectQuery,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    name: str | None = Query(None, min_length=1, max_length=200, description="a part of the name, any case"),
    tag: str | None = Query(None, min_length=1, max_length=64, description="workflows with this tag"),
    node_type: str | None = Query(None, min_length=1, max_length=200, description="workflows using this node type"),
) -> Any:
    return await platform.ask(
        msg.ListWorkflows(
            limit=limit,
            cursor=cursor,
            name=name,
            tag=tag,
            node_type=node_type,
            project_ids=reach.visible(project_id),
        )
    )


@router.get("/export", response_model=WorkflowExport)
async def export_workflows(
    transfers: TransfersDep,
    _: Viewer,
    reach: AccessDep,
    ids: list[str] | None = Query(None, description="the workflows to export (repeat the parameter); all if none"),
    project_id: str | None = ProjectQuery,
) -> Any:
    """A set of workflows, or all of yours, as one file; credentials by name, never their data."""
    return await transfers.export(ids, reach, reach.visible(project_id))


@router.post("/import", response_model=ImportReport)
async def import_workflows(
    body: WorkflowImport,
    transfers: TransfersDep,
    _: Editor,
    reach: AccessDep,
    gateway: GatewayDep,
    as_copy: bool = Query(False, description="always make new workflows instead of finding the exported ones"),
    project_id: str | None = Query(None, max_length=64, description="where new workflows go (default: yours)"),
) -> Any:
    """Importing the same file again is idempotent: each workflow keeps its exported id (unchanged, or a new
    version when the file differs); ``as_copy``, or a workflow deleted here since, makes new ones. New ones go
    into ``project_id``; one that exists already stays in its project, and must be one you edit in."""
    return await transfers.import_(body, as_copy, reach, await gateway.target(reach, project_id, "editor"))


@router.get("/{workflow_id}", response_model=Workflow)
async def get_workflow(workflow_id: str, platform: PlatformDep, _: WorkflowViewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id))


@router.get("/{workflow_id}/export", response_model=WorkflowExport)
async def export_workflow(workflow_id: str, transfers: TransfersDep, reach: WorkflowViewer) -> Any:
    return await transfers.export([workflow_id], reach, None)


@router.post("/{workflow_id}/duplicate", status_code=201, response_model=Workflow)
async def duplicate_workflow(
    workflow_id: str,
    platform: PlatformDep,
    owners: OwnersDep,
    _: Editor,
    reach: WorkflowViewer,
    body: DuplicateRequest | None = None,
) -> Any:
    """A new, inactive workflow with this one's latest definition, in its project or ``project_id`` (where
    the caller must be an editor)."""
    name = body.name if body else None
    project = (body.project_id if body else None) or await owners.project_of("workflow", workflow_id)
    reach.check(project, "editor")
    return await platform.ask(
        msg.DuplicateWorkflow(workflow_id=workflow_id, name=name, project_id=project, actor=reach.actor())
    )


@router.post("/{workflow_id}/nodes/{node_id}/test", response_model=StepTestResult)
async def test_step(
    workflow_id: str, node_id: str, body: StepTestRequest, step_tests: StepTestsDep, _: WorkflowOperator
) -> Any:
    """Run one node now with ``items`` (or the input it had in ``execution_id``); no execution is started. A node
    whose output is pinned answers that output without running (unless ``ignore_pin``)."""
    return await step_tests.test(
        workflow_id,
        node_id,
        items=body.items,
        execution_id=body.execution_id,
        version=body.version,
        ignore_pin=body.ignore_pin,
    )


@router.put("/{workflow_id}", response_model=Workflow)
async def update_workflow(
    workflow_id: str, body: NewWorkflow, platform: PlatformDep, owners: OwnersDep, who: WorkflowEditor
) -> Any:
    """A new version; ``project_id``, when given, must be the workflow's own (a workflow never moves)."""
    if body.project_id is not None and body.project_id != await owners.project_of("workflow", workflow_id):
        raise InvalidInput(
            "a workflow never changes project: export it and import it into the other project",
            details=[{"field": "project_id", "message": "not this workflow's project"}],
        )
    return await platform.ask(
        msg.UpdateWorkflow(workflow_id=workflow_id, definition=_definition(body), actor=who.actor())
    )


@router.delete("/{workflow_id}")
async def delete_workflow(workflow_id: str, platform: PlatformDep, who: WorkflowEditor) -> Any:
    return await platform.ask(msg.DeleteWorkflow(workflow_id=workflow_id, actor=who.actor()))


@router.get("/{workflow_id}/versions", response_model=WorkflowVersions)
async def list_versions(workflow_id: str, platform: PlatformDep, _: WorkflowViewer) -> Any:
    return await platform.ask(msg.ListWorkflowVersions(workflow_id=workflow_id))


@router.get("/{workflow_id}/versions/{version}", response_model=Workflow)
async def get_version(workflow_id: str, version: int, platform: PlatformDep, _: WorkflowViewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id, version=version))


@router.post("/{workflow_id}/activate", response_model=Workflow)
async def activate(workflow_id: str, platform: PlatformDep, who: WorkflowEditor) -> Any:
    return await platform.ask(msg.SetWorkflowActive(workflow_id=workflow_id, active=True, actor=who.actor()))


@router.post("/{workflow_id}/deactivate", response_model=Workflow)
async def deactivate(workflow_id: str, platform: PlatformDep, who: WorkflowEditor) -> Any:
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
    _: WorkflowOperator,
    body: RunRequest | None = None,
    wait: bool = False,
    timeout: float = Query(30.0, gt=0, le=3600),
) -> Any:
    request = body or RunRequest()
    started = await platform.run_workflow(
        workflow_id,
        request.input,
        wait=wait,
        timeout=timeout,
        version=request.version,
        test=request.test,
        debug=request.debug,
    )
    if wait and started.execution is not None:
        return Response(started.execution.model_dump_json(), media_type="application/json")
    return {"execution_id": started.execution_id}
