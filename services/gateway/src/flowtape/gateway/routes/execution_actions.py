"""Operating on runs: cancel, retry from the failed node, replay from any node, and the live log stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from flowtape.common.messages import engine as msg
from flowtape.gateway.deps import SIGNED_IN, ExecutionOperator, ExecutionViewer, PlatformDep
from flowtape.gateway.schemas import ExecutionAccepted

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], dependencies=SIGNED_IN)

TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"}
POLL_SECONDS = 0.25


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_node: str = Field(min_length=1)
    workflow_version: Literal["original", "latest"] | int = "original"
    input: list[dict[str, Any]] | None = Field(default=None, description="replaces from_node's recorded input")


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled by request", max_length=500)


@router.post("/{execution_id}/cancel", status_code=202)
async def cancel_execution(
    execution_id: str, platform: PlatformDep, _: ExecutionOperator, body: CancelRequest | None = None
) -> Any:
    reason = (body or CancelRequest()).reason
    return await platform.ask(msg.CancelExecution(execution_id=execution_id, reason=reason))


@router.post("/{execution_id}/retry", status_code=202, response_model=ExecutionAccepted)
async def retry_execution(execution_id: str, platform: PlatformDep, _: ExecutionOperator) -> Any:
    started = await platform.ask(msg.RetryExecution(execution_id=execution_id))
    return {"execution_id": started["execution_id"]}


@router.post("/{execution_id}/replay", status_code=202, response_model=ExecutionAccepted)
async def replay_execution(execution_id: str, body: ReplayRequest, platform: PlatformDep, _: ExecutionOperator) -> Any:
    started = await platform.ask(
        msg.ReplayExecution(
            execution_id=execution_id,
            from_node=body.from_node,
            workflow_version=body.workflow_version,
            input=body.input,
        )
    )
    return {"execution_id": started["execution_id"]}


@router.get("/{execution_id}/stream", response_class=EventSourceResponse)
async def stream_execution(execution_id: str, platform: PlatformDep, _: ExecutionViewer) -> EventSourceResponse:
    """Server-Sent Events, one per log event (``id`` is its seq), until the execution ends."""
    await platform.ask(msg.GetExecutionEvents(execution_id=execution_id))  # 404 before the stream opens

    async def events() -> AsyncIterator[dict[str, str]]:
        seen = 0
        while True:
            page = await platform.ask(msg.GetExecutionEvents(execution_id=execution_id, after=seen))
            for event in page["items"]:
                seen = event["seq"]
                yield {"id": str(seen), "event": event["type"], "data": json.dumps(event)}
                if event["type"] in TERMINAL:
                    return
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(events(), ping=15)
