"""Messages the engine owns: workflow and execution commands, queries and events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowtape.common.messages.base import JsonItems, Message

ExecutionStatus = Literal["running", "waiting", "succeeded", "failed", "cancelled"]


class CreateWorkflow(Message):
    type_name = "engine.CreateWorkflow.v1"
    kind = "command"
    definition: dict[str, Any]


class UpdateWorkflow(Message):
    type_name = "engine.UpdateWorkflow.v1"
    kind = "command"
    workflow_id: str
    definition: dict[str, Any]


class DeleteWorkflow(Message):
    type_name = "engine.DeleteWorkflow.v1"
    kind = "command"
    workflow_id: str


class SetWorkflowActive(Message):
    type_name = "engine.SetWorkflowActive.v1"
    kind = "command"
    workflow_id: str
    active: bool


class GetWorkflow(Message):
    type_name = "engine.GetWorkflow.v1"
    kind = "query"
    workflow_id: str
    version: int | None = None


class ListWorkflows(Message):
    type_name = "engine.ListWorkflows.v1"
    kind = "query"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class ListWorkflowVersions(Message):
    type_name = "engine.ListWorkflowVersions.v1"
    kind = "query"
    workflow_id: str


class StartExecution(Message):
    """Run a workflow's latest version (or ``version``) with ``input`` as the trigger items."""

    type_name = "engine.StartExecution.v1"
    kind = "command"
    workflow_id: str
    version: int | None = None
    input: JsonItems = Field(default_factory=list)
    trigger: dict[str, Any] = Field(default_factory=dict)


class GetExecution(Message):
    type_name = "engine.GetExecution.v1"
    kind = "query"
    execution_id: str
    at: int | None = None


class GetExecutionEvents(Message):
    type_name = "engine.GetExecutionEvents.v1"
    kind = "query"
    execution_id: str
    after: int = 0


class ListExecutions(Message):
    type_name = "engine.ListExecutions.v1"
    kind = "query"
    workflow_id: str | None = None
    status: ExecutionStatus | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class ExecutionFinished(Message):
    """Published after an execution's final event is committed to its log."""

    type_name = "engine.ExecutionFinished.v1"
    workflow_id: str
    execution_id: str
    workflow_version: int
    status: ExecutionStatus
    error: str | None = None
