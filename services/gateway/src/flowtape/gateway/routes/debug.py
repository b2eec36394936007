"""Debug runs paused at a breakpoint: edit the paused node's input, step to the next node, or continue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages import engine as msg
from flowtape.common.views import Execution
from flowtape.gateway.deps import SIGNED_IN, ExecutionOperator, PlatformDep

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], dependencies=SIGNED_IN)


class DebugInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: list[dict[str, Any]] = Field(description="the items the paused node gets instead of its input")


@router.post("/{execution_id}/debug/input", response_model=Execution)
async def edit_input(execution_id: str, body: DebugInput, platform: PlatformDep, _: ExecutionOperator) -> Any:
    """Replace the input of the node the run is paused before (409 when it is not paused at a breakpoint)."""
    return await platform.ask(msg.DebugExecution(execution_id=execution_id, action="input", input=body.input))


@router.post("/{execution_id}/debug/step", response_model=Execution)
async def step(execution_id: str, platform: PlatformDep, _: ExecutionOperator) -> Any:
    """Run the paused node and stop again before the next one."""
    return await platform.ask(msg.DebugExecution(execution_id=execution_id, action="step"))


@router.post("/{execution_id}/debug/continue", response_model=Execution)
async def continue_(execution_id: str, platform: PlatformDep, _: ExecutionOperator) -> Any:
    """Run on from the paused node to the next breakpoint (or the end)."""
    return await platform.ask(msg.DebugExecution(execution_id=execution_id, action="continue"))
