"""``/api/v1/workflows/{id}/pins/{node}``: a node's output pinned in the workflow's draft.

A pinned output stands in for running the node in the editor's tests (``run`` with ``"test": true``, and test a
step); it is no part of any version and no triggered or plain run ever uses it. Editors pin and unpin; the
workflow's view shows its pins (``pinned``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.pins import PinNodeOutput, UnpinNodeOutput
from flowtape.common.views import Workflow
from flowtape.gateway.deps import SIGNED_IN, PlatformDep, WorkflowEditor

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"], dependencies=SIGNED_IN)


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(description="the output items the node is taken to have produced")
    port: str = Field(default="main", min_length=1, max_length=64, description="the port they leave by")


@router.put("/{workflow_id}/pins/{node_id}", response_model=Workflow)
async def pin_node_output(
    workflow_id: str, node_id: str, body: PinRequest, platform: PlatformDep, who: WorkflowEditor
) -> Any:
    return await platform.ask(
        PinNodeOutput(workflow_id=workflow_id, node_id=node_id, items=body.items, port=body.port, actor=who.actor())
    )


@router.delete("/{workflow_id}/pins/{node_id}", response_model=Workflow)
async def unpin_node_output(workflow_id: str, node_id: str, platform: PlatformDep, who: WorkflowEditor) -> Any:
    return await platform.ask(UnpinNodeOutput(workflow_id=workflow_id, node_id=node_id, actor=who.actor()))
