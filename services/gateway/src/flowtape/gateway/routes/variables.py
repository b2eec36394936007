"""``/api/v1/variables`` and ``/api/v1/workflows/{id}/variables``: ``vars.NAME`` in expressions.

Variables belong to a project (``?project_id=``, default the caller's default project) or to one workflow
(then to its project). Editors of the project write; its members read the plain values. A secret value goes in
and never comes out: its view says ``secret: true`` with no value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.variables import MAX_VALUE_LENGTH, VariableList, VariableName, VariableView
from flowtape.gateway.deps import (
    SIGNED_IN,
    AccessDep,
    Editor,
    GatewayDep,
    OwnersDep,
    VariablesDep,
    Viewer,
    WorkflowEditor,
    WorkflowViewer,
)

router = APIRouter(prefix="/api/v1", tags=["variables"], dependencies=SIGNED_IN)


class VariableValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(max_length=MAX_VALUE_LENGTH, description="the value; a secret one is never returned")
    secret: bool = Field(default=False, description="encrypted at rest, filled in only where nodes run")


ProjectQuery = Query(None, max_length=64, description="the project's variables (default: your default project)")


@router.get("/variables", response_model=VariableList)
async def list_project_variables(
    variables: VariablesDep,
    _: Viewer,
    reach: AccessDep,
    gateway: GatewayDep,
    project_id: str | None = ProjectQuery,
) -> Any:
    """A project's variables: every workflow of the project reads them as ``vars.NAME``."""
    return await variables.list(None, await gateway.target(reach, project_id, "viewer"))


@router.put("/variables/{name}", response_model=VariableView)
async def set_project_variable(
    name: VariableName,
    body: VariableValue,
    variables: VariablesDep,
    _: Editor,
    reach: AccessDep,
    gateway: GatewayDep,
    project_id: str | None = ProjectQuery,
) -> Any:
    project = await gateway.target(reach, project_id, "editor")
    return await variables.set(
        name, body.value, secret=body.secret, workflow_id=None, project_id=project, actor=reach.actor()
    )


@router.delete("/variables/{name}", response_model=VariableView)
async def unset_project_variable(
    name: VariableName,
    variables: VariablesDep,
    _: Editor,
    reach: AccessDep,
    gateway: GatewayDep,
    project_id: str | None = ProjectQuery,
) -> Any:
    project = await gateway.target(reach, project_id, "editor")
    return await variables.unset(name, workflow_id=None, project_id=project, actor=reach.actor())


@router.get("/workflows/{workflow_id}/variables", response_model=VariableList)
async def list_workflow_variables(
    workflow_id: str, variables: VariablesDep, owners: OwnersDep, _: WorkflowViewer
) -> Any:
    """The workflow's own variables (they override its project's of the same name in its runs)."""
    return await variables.list(workflow_id, await owners.project_of("workflow", workflow_id))


@router.put("/workflows/{workflow_id}/variables/{name}", response_model=VariableView)
async def set_workflow_variable(
    workflow_id: str,
    name: VariableName,
    body: VariableValue,
    variables: VariablesDep,
    owners: OwnersDep,
    reach: WorkflowEditor,
) -> Any:
    project = await owners.project_of("workflow", workflow_id)
    return await variables.set(
        name, body.value, secret=body.secret, workflow_id=workflow_id, project_id=project, actor=reach.actor()
    )


@router.delete("/workflows/{workflow_id}/variables/{name}", response_model=VariableView)
async def unset_workflow_variable(
    workflow_id: str, name: VariableName, variables: VariablesDep, owners: OwnersDep, reach: WorkflowEditor
) -> Any:
    project = await owners.project_of("workflow", workflow_id)
    return await variables.unset(name, workflow_id=workflow_id, project_id=project, actor=reach.actor())
