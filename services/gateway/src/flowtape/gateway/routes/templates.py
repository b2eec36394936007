"""``/api/v1/templates``: the ready-made workflows shipped in the repository, and making a workflow of one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages import engine as msg
from flowtape.common.templates import template, templates
from flowtape.common.views import Workflow
from flowtape.gateway.deps import SIGNED_IN, AccessDep, Editor, GatewayDep, PlatformDep, Viewer

router = APIRouter(prefix="/api/v1/templates", tags=["templates"], dependencies=SIGNED_IN)


class TemplateInfo(BaseModel):
    id: str
    name: str
    description: str
    category: str
    parameters: list[dict[str, Any]] = Field(description="name, description, default, required, credential_type")
    node_types: list[str]
    workflow: dict[str, Any] = Field(description="the definition, with ${parameter} placeholders")


class TemplateList(BaseModel):
    items: list[TemplateInfo]


class Instantiation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, description="default: the template's")
    parameters: dict[str, Any] = Field(default_factory=dict)
    project_id: str | None = Field(
        default=None, max_length=64, description="the new workflow's project (default: yours)"
    )


@router.get("", response_model=TemplateList)
async def list_templates(_: Viewer) -> Any:
    return {"items": [t.listing() for t in templates().values()]}


@router.get("/{template_id}", response_model=TemplateInfo)
async def get_template(template_id: str, _: Viewer) -> Any:
    return template(template_id).listing()


@router.post("/{template_id}/instantiate", status_code=201, response_model=Workflow)
async def instantiate(
    template_id: str,
    platform: PlatformDep,
    _: Editor,
    reach: AccessDep,
    gateway: GatewayDep,
    body: Instantiation | None = None,
) -> Any:
    """A new, inactive workflow made from the template (tagged ``template:<id>``)."""
    request = body or Instantiation()
    definition = template(template_id).instantiate(request.parameters, request.name)
    project = await gateway.target(reach, request.project_id, "editor")
    return await platform.ask(msg.CreateWorkflow(definition=definition, project_id=project, actor=reach.actor()))
