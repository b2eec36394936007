"""``/api/v1/api-keys``: keys for scripts, shown once at creation, then only ever by id. Platform admins manage
every key; a project's admins make, list and revoke the keys of their projects (another key is not found)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import ApiKeyPage, ApiKeyView, Role
from flowtape.gateway.deps import SIGNED_IN, AccessDep, AccountsDep, GatewayDep, ProjectAdmin

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"], dependencies=SIGNED_IN)


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(min_length=1, max_length=200)
    role: Role | None = Field(default=None, description="defaults to the creator's role; never above it")
    project_id: str | None = Field(
        default=None,
        max_length=64,
        description="the one project the key acts in, where its maker is an admin; omitted by a platform admin: "
        "a platform key, with its role on every project",
    )
    expires_at: datetime | None = None


class CreatedApiKey(ApiKeyView):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")


@router.post("", status_code=201, response_model=CreatedApiKey)
async def create_api_key(
    body: NewApiKey, who: ProjectAdmin, reach: AccessDep, accounts: AccountsDep, gateway: GatewayDep
) -> Any:
    """Send it as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Platform admins and the admins of
    the key's project make keys."""
    project = (
        None
        if body.project_id is None and reach.platform_admin
        else await gateway.target(reach, body.project_id, "admin")
    )
    return await accounts.create_api_key(body.name, body.role, body.expires_at, who, project)


@router.get("", response_model=ApiKeyPage)
async def list_api_keys(
    _: ProjectAdmin,
    reach: AccessDep,
    accounts: AccountsDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
) -> Any:
    """Every key for a platform admin; the keys of the projects it administers for a project admin."""
    return await accounts.list_api_keys(limit, cursor, reach.projects_with("admin"))


@router.delete("/{key_id}", response_model=ApiKeyView)
async def revoke_api_key(key_id: str, who: ProjectAdmin, reach: AccessDep, accounts: AccountsDep) -> Any:
    """Refused by every gateway replica within seconds."""
    return await accounts.revoke_api_key(key_id, who, reach.projects_with("admin"))
