"""``/api/v1/audit`` (admin): the append-only trail of sign-ins, user, key and workflow changes, newest first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from flowtape.common.messages.auth import AuditPage
from flowtape.gateway.deps import SIGNED_IN, AccountsDep, Admin

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=SIGNED_IN)


@router.get("", response_model=AuditPage)
async def list_audit(
    _: Admin,
    accounts: AccountsDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    action: str | None = Query(None, description="e.g. login.failed, user.role_changed, workflow.updated"),
    actor_id: str | None = None,
) -> Any:
    return await accounts.list_audit(limit, cursor, action, actor_id)
