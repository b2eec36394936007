"""``/api/v1/workflows``: definitions, their versions, activation and runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from flowtape.common.messages import engine as msg
from flowtape.common.workflow import WorkflowDefinition
from flowtape.gateway.deps import AuditDep, Editor, Operator, PlatformDep, TransfersDep, Viewer
from flowtape.gateway.schemas import (
    DuplicateRequest,
    Execution,
    ExecutionAccepted,
    ImportReport,
    RunRequest,
    StepTestRequest,
    StepTestResult,
    Workflow,
    WorkflowExport,
    WorkflowImport,
    WorkflowPage,
    WorkflowVersions,
)
from flowtape.gateway.steps import StepTests

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


def _definition(body: WorkflowDefinition) -> dict[str, Any]:
    return body.dump()


def _audited(workflow: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of a workflow write: which workflow, its name and the version it made."""
    return {
        "target_type": "workflow",
        "target_id": workflow["id"],
        "details": {"name": workflow.get("name"), "version": workflow.get("version")},
    }


@router.post("", status_code=201, response_model=Workflow)
async def create_workflow(body: WorkflowDefinition, platform: PlatformDep, who: Editor, audit: AuditDep) -> Any:
    workflow = await platform.ask(msg.CreateWorkflow(definition=_definition(body)))
    await audit.record(who, "workflow.created", **_audited(workflow))
    return workflow


@router.get("", response_model=WorkflowPage)
async def list_workflows(
    platform: PlatformDep,
    _: Viewer,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    name: str | None = Query(None, min_length=1, max_length=200, description="a part of the name, any case"),
    tag: str | None = Query(None, min_length=1, max_length=64, description="workflows with this tag"),
    node_type: str | None = Query(None, min_length=1, max_length=200, description="workflows using this node type"),
) -> Any:
    return await platform.ask(msg.ListWorkflows(limit=limit, cursor=cursor, name=name, tag=tag, node_type=node_type))


@router.get("/export", response_model=WorkflowExport)
async def export_workflows(
    transfers: TransfersDep,
    _: Viewer,
    ids: list[str] | None = Query(None, description="the workflows to export (repeat the parameter); all if none"),
) -> Any:
    """A set of workflows, or all of them, as one file; credentials by name, never their data."""
    return await transfers.export(ids)


@router.post("/import", response_model=ImportReport)
async def import_workflows(
    body: WorkflowImport,
    transfers: TransfersDep,
    who: Editor,
    audit: AuditDep,
    as_copy: bool = Query(False, description="always make new workflows instead of finding the exported ones"),
) -> Any:
    """Importing the same file again is idempotent: each workflow keeps its exported id (unchanged, or a new
    version when the file differs); ``as_copy``, or a workflow deleted here since, makes new ones."""
    report = await transfers.import_(body, as_copy)
    for item in report["items"]:
        details = {"name": item["name"], "outcome": item["outcome"], "source_id": item["source_id"]}
        await audit.record(who, "workflow.imported", target_type="workflow", target_id=item["id"], details=details)
    return report


@router.get("/{workflow_id}", response_model=Workflow)
async def get_workflow(workflow_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id))


@router.get("/{workflow_id}/export", response_model=WorkflowExport)
async def export_workflow(workflow_id: str, transfers: TransfersDep, _: Viewer) -> Any:
    return await transfers.export([workflow_id])


@router.post("/{workflow_id}/duplicate", status_code=201, response_model=Workflow)
async def duplicate_workflow(
    workflow_id: str, platform: PlatformDep, who: Editor, audit: AuditDep, body: DuplicateRequest | None = None
) -> Any:
    """A new, inactive workflow with this one's latest definition."""
    name = body.name if body else None
    workflow = await platform.ask(msg.DuplicateWorkflow(workflow_id=workflow_id, name=name))
    await audit.record(who, "workflow.created", **_audited(workflow))
    return workflow


@router.post("/{workflow_id}/nodes/{node_id}/test", response_model=StepTestResult)
async def test_step(workflow_id: str, node_id: str, body: StepTestRequest, platform: PlatformDep, _: Operator) -> Any:
    """Run one node now with ``items`` (or the input it had in ``execution_id``); no execution is started."""
    return await StepTests(platform).test(
        workflow_id, node_id, items=body.items, execution_id=body.execution_id, version=body.version
    )


@router.put("/{workflow_id}", response_model=Workflow)
async def update_workflow(
    workflow_id: str, body: WorkflowDefinition, platform: PlatformDep, who: Editor, audit: AuditDep
) -> Any:
    workflow = await platform.ask(msg.UpdateWorkflow(workflow_id=workflow_id, definition=_definition(body)))
    await audit.record(who, "workflow.updated", **_audited(workflow))
    return workflow


@router.delete("/{workflow_id}")
async def delete_workflow(workflow_id: str, platform: PlatformDep, who: Editor, audit: AuditDep) -> Any:
    deleted = await platform.ask(msg.DeleteWorkflow(workflow_id=workflow_id))
    await audit.record(who, "workflow.deleted", target_type="workflow", target_id=workflow_id)
    return deleted


@router.get("/{workflow_id}/versions", response_model=WorkflowVersions)
async def list_versions(workflow_id: str, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.ListWorkflowVersions(workflow_id=workflow_id))


@router.get("/{workflow_id}/versions/{version}", response_model=Workflow)
async def get_version(workflow_id: str, version: int, platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetWorkflow(workflow_id=workflow_id, version=version))


@router.post("/{workflow_id}/activate", response_model=Workflow)
async def activate(workflow_id: str, platform: PlatformDep, who: Editor, audit: AuditDep) -> Any:
    workflow = await platform.ask(msg.SetWorkflowActive(workflow_id=workflow_id, active=True))
    await audit.record(who, "workflow.activated", **_audited(workflow))
    return workflow


@router.post("/{workflow_id}/deactivate", response_model=Workflow)
async def deactivate(workflow_id: str, platform: PlatformDep, who: Editor, audit: AuditDep) -> Any:
    workflow = await platform.ask(msg.SetWorkflowActive(workflow_id=workflow_id, active=False))
    await audit.record(who, "workflow.deactivated", **_audited(workflow))
    return workflow


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
    if wait:
        return JSONResponse(started["execution"], status_code=200)
    return {"execution_id": started["execution_id"]}
