"""``/api/v1/executions``: the runs, their logs and their state at any event."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from flowtape.common.binary import BINARY_ID_PATTERN
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import BinaryContent, GetBinary
from flowtape.common.run_diff import diff_executions
from flowtape.common.views import Execution, ExecutionEvents, ExecutionPage, ExecutionStatus
from flowtape.gateway.deps import SIGNED_IN, AccessDep, ExecutionViewer, OwnersDep, PlatformDep, Viewer
from flowtape.gateway.schemas import ExecutionDiff

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], dependencies=SIGNED_IN)

Status = ExecutionStatus


@router.get("", response_model=ExecutionPage)
async def list_executions(
    platform: PlatformDep,
    _: Viewer,
    reach: AccessDep,
    workflow_id: str | None = None,
    status: Status | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    project_id: str | None = Query(None, max_length=64, description="only this project's runs (one of yours)"),
) -> Any:
    """Newest first; only runs of the caller's projects."""
    return await platform.ask(
        msg.ListExecutions(
            workflow_id=workflow_id,
            status=status,
            limit=limit,
            cursor=cursor,
            project_ids=reach.visible(project_id),
        )
    )


@router.get("/{execution_id}", response_model=Execution)
async def get_execution(execution_id: str, platform: PlatformDep, _: ExecutionViewer) -> Any:
    return await platform.ask(msg.GetExecution(execution_id=execution_id))


#: what the log of a run retention pruned answers (its summary still answers GET /executions/{id})
_PRUNED: dict[int | str, dict[str, Any]] = {
    410: {
        "description": "retention pruned the run: its events are gone (code pruned)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
}


@router.get("/{execution_id}/events", response_model=ExecutionEvents, responses=_PRUNED)
async def get_events(execution_id: str, platform: PlatformDep, _: ExecutionViewer) -> Any:
    return await platform.ask(msg.GetExecutionEvents(execution_id=execution_id))


@router.get("/{execution_id}/state", response_model=Execution, responses=_PRUNED)
async def get_state(execution_id: str, platform: PlatformDep, _: ExecutionViewer, at: int = Query(..., ge=1)) -> Any:
    return await platform.ask(msg.GetExecution(execution_id=execution_id, at=at))


@router.get(
    "/{execution_id}/binary/{binary_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the bytes"}},
)
async def get_binary(
    execution_id: str,
    platform: PlatformDep,
    _: ExecutionViewer,
    binary_id: str = Path(pattern=BINARY_ID_PATTERN),
) -> Response:
    """Binary data an item of this execution refers to (``{"$binary": {"id", ...}}``), as a download.

    Served as an attachment in a sandbox, never rendered on the console's origin: the bytes are whatever a
    remote page or API returned.
    """
    execution = await platform.ask(msg.GetExecution(execution_id=execution_id))
    content = BinaryContent.model_validate(
        await platform.ask(GetBinary(binary_id=binary_id, workflow_id=execution["workflow_id"]))
    )
    name = content.file_name or content.id
    return Response(
        content=base64.b64decode(content.data),
        media_type=content.mime_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/{execution_id}/diff/{other_id}", response_model=ExecutionDiff)
async def diff(
    execution_id: str, other_id: str, platform: PlatformDep, owners: OwnersDep, reach: ExecutionViewer
) -> Any:
    """Node by node, what changed from run ``execution_id`` (a) to run ``other_id`` (b)."""
    await owners.check(reach, "execution", other_id, "viewer")
    a = await platform.ask(msg.GetExecution(execution_id=execution_id))
    b = await platform.ask(msg.GetExecution(execution_id=other_id))
    return diff_executions(a, b)
