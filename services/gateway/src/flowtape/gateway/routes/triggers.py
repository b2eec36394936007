"""``/api/v1/triggers``: the registrations of active workflows, with their last and next fire times."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from flowtape.common.messages.triggers import ListTriggers
from flowtape.gateway.deps import SIGNED_IN, AccessDep, OwnersDep, PlatformDep, Viewer

router = APIRouter(prefix="/api/v1/triggers", tags=["triggers"], dependencies=SIGNED_IN)


class TriggerRegistration(BaseModel):
    workflow_id: str
    version: int
    kind: str
    node: str
    last_fired_at: str | None = None
    next_fire_at: str | None = None
    path: str | None = None
    method: str | None = None
    cron: str | None = None
    interval: float | None = None
    timezone: str | None = None
    catch_up: str | None = None
    workflow_ids: list[str] | None = None
    statuses: list[str] | None = None
    exchange: str | None = None
    routing_key: str | None = None


class TriggerRegistrations(BaseModel):
    items: list[TriggerRegistration]


@router.get("", response_model=TriggerRegistrations, response_model_exclude_unset=True)
async def list_triggers(platform: PlatformDep, owners: OwnersDep, _: Viewer, reach: AccessDep) -> Any:
    """The triggers of the caller's projects' workflows."""
    found = await platform.ask(ListTriggers())
    if reach.everywhere is not None:
        return found
    items = []
    for item in found["items"]:
        project = await owners.project_or_none("workflow", item["workflow_id"])  # None: deleted meanwhile
        if project is not None and reach.role_in(project) is not None:
            items.append(item)
    return {**found, "items": items}
