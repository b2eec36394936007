"""Messages the connectors own: node tasks, their completions and the node catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from flowtape.common.messages.base import JsonItems, Message


class RunNodeTask(Message):
    """Run one attempt of one node. ``idempotency_key`` is stable across redeliveries of the attempt."""

    type_name = "connectors.RunNodeTask.v1"
    kind = "command"
    execution_id: str
    workflow_id: str
    workflow_version: int
    node_id: str
    node_type: str
    params: dict[str, Any]
    items: JsonItems
    attempt: int = 1
    trigger: JsonItems = Field(default_factory=list)
    node_outputs: dict[str, JsonItems] = Field(default_factory=dict)
    timeout_seconds: float | None = None
    #: the webhook request that started the run, in scope of expressions as ``request``
    request: dict[str, Any] | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}:{self.node_id}:{self.attempt}"


class NodeTaskCompleted(Message):
    """The outcome of a node task, success or failure, as the worker saw it."""

    type_name = "connectors.NodeTaskCompleted.v1"
    execution_id: str
    node_id: str
    attempt: int
    outcome: Literal["succeeded", "failed"]
    ports: dict[str, JsonItems] = Field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    started_at: datetime
    finished_at: datetime


class NodeCatalogPublished(Message):
    """The node types a connectors worker can run; the engine validates workflows against it."""

    type_name = "connectors.NodeCatalogPublished.v1"
    nodes: list[dict[str, Any]]


class GetNodeCatalog(Message):
    type_name = "connectors.GetNodeCatalog.v1"
    kind = "query"


class CancelNodeTasks(Message):
    """Stop every running task of an execution (it was cancelled or timed out); sent to all workers."""

    type_name = "connectors.CancelNodeTasks.v1"
    kind = "command"
    execution_id: str
