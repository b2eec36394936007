"""``/api/v1/variables`` and ``/api/v1/workflows/{id}/variables``: ``vars.NAME`` in expressions.

Editors write; anyone signed in reads the plain values. A secret value goes in and never comes out: its view
says ``secret: true`` with no value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.variables import MAX_VALUE_LENGTH, VariableList, VariableName, VariableView
from flowtape.gateway.deps import Editor, VariablesDep, Viewer

router = APIRouter(prefix="/api/v1", tags=["variables"])


class VariableValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(max_length=MAX_VALUE_LENGTH, description="the value; a secret one is never returned")
    secret: bool = Field(default=False, description="encrypted at rest, filled in only where nodes run")


@router.get("/variables", response_model=VariableList)
async def list_platform_variables(variables: VariablesDep, _: Viewer) -> Any:
    return await variables.list(None)


@router.put("/variables/{name}", response_model=VariableView)
async def set_platform_variable(name: VariableName, body: VariableValue, variables: VariablesDep, who: Editor) -> Any:
    return await variables.set(name, body.value, secret=body.secret, workflow_id=None, actor=who.actor())


@router.delete("/variables/{name}", response_model=VariableView)
async def unset_platform_variable(name: VariableName, variables: VariablesDep, who: Editor) -> Any:
    return await variables.unset(name, workflow_id=None, actor=who.actor())


@router.get("/workflows/{workflow_id}/variables", response_model=VariableList)
async def list_workflow_variables(workflow_id: str, variables: VariablesDep, _: Viewer) -> Any:
    """The workflow's own variables (they override the platform's of the same name in its runs)."""
    return await variables.list(workflow_id)


@router.put("/workflows/{workflow_id}/variables/{name}", response_model=VariableView)
async def set_workflow_variable(
    workflow_id: str, name: VariableName, body: VariableValue, variables: VariablesDep, who: Editor
) -> Any:
    return await variables.set(name, body.value, secret=body.secret, workflow_id=workflow_id, actor=who.actor())


@router.delete("/workflows/{workflow_id}/variables/{name}", response_model=VariableView)
async def unset_workflow_variable(workflow_id: str, name: VariableName, variables: VariablesDep, who: Editor) -> Any:
    return await variables.unset(name, workflow_id=workflow_id, actor=who.actor())
