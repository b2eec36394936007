"""Operators' endpoints: projection rebuilds, retention, dead letters, replay checks, backup and restore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages import engine as msg
from flowtape.gateway.deps import SIGNED_IN, AccessDep, Admin, BackupsDep, Operator, OwnersDep, PlatformDep, Viewer

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=SIGNED_IN)


class ReplayCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    version: int = Field(ge=1)
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class RetentionRun(BaseModel):
    #: strict: JSON `true` is not the number 1
    model_config = ConfigDict(extra="forbid", strict=True)

    dry_run: bool = Field(default=False, description="only say which runs would be pruned")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="prune at most this many in this pass")


class DeadLetterReplay(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[msg.DeadLetterId] = Field(default_factory=list, description="empty: every dead letter not replayed yet")


@router.post("/projections/rebuild", status_code=202)
async def rebuild_projections(platform: PlatformDep, _: Admin) -> Any:
    return await platform.ask(msg.RebuildProjections())


@router.post("/retention/run")
async def run_retention(body: RetentionRun, platform: PlatformDep, _: Admin) -> Any:
    """Apply the retention policies now: counts and ids of the runs pruned (or, dry, that would be)."""
    return await platform.ask(msg.RunRetention(dry_run=body.dry_run, limit=body.limit), timeout=300)


@router.get("/projections")
async def projection_status(platform: PlatformDep, _: Viewer) -> Any:
    return await platform.ask(msg.GetProjectionStatus())


@router.get("/dead-letters")
async def list_dead_letters(
    platform: PlatformDep, _: Admin, limit: int = Query(100, ge=1, le=1000), include_replayed: bool = False
) -> Any:
    """Messages no consumer could take, of every project: a platform admin's view."""
    return await platform.ask(msg.ListDeadLetters(limit=limit, include_replayed=include_replayed))


@router.post("/dead-letters/replay")
async def replay_dead_letters(body: DeadLetterReplay, platform: PlatformDep, _: Admin) -> Any:
    return await platform.ask(msg.ReplayDeadLetters(ids=body.ids))


@router.post("/replay-check")
async def replay_check(
    body: ReplayCheckRequest, platform: PlatformDep, owners: OwnersDep, _: Operator, reach: AccessDep
) -> Any:
    await owners.check(reach, "workflow", body.workflow_id, "operator")
    return await platform.ask(
        msg.ReplayCheck(workflow_id=body.workflow_id, version=body.version, since=body.since, limit=body.limit),
        timeout=120,
    )


@router.get(
    "/backup",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "the backup, as JSON lines"}},
)
async def backup_platform(backups: BackupsDep, _: Admin) -> Any:
    """The whole platform's data as JSON lines (docs/operations.md, "Backup and restore"): secrets stay encrypted."""
    return StreamingResponse(backups.backup(), media_type="application/x-ndjson")


@router.post("/restore")
async def restore_platform(request: Request, backups: BackupsDep, _: Admin, force: bool = False) -> Any:
    """Put a backup (the body, as ``GET /backup`` gave it) into this platform, which must be empty unless forced."""
    return await backups.restore(_body_lines(request), force)


async def _body_lines(request: Request) -> AsyncIterator[bytes]:
    pending = b""
    async for part in request.stream():
        pending += part
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line
    if pending:
        yield pending
