"""Pinned node outputs, which the engine owns (beside the workflow they belong to).

A node's output pinned in a workflow's draft stands in for running that node in the editor's tests: a test run
(``StartExecution.test``) and test-a-step. A pin is no part of any version (pinning saves no version), and a run
started any other way (webhook, schedule, event, a plain ``run``) never sees it.
"""

from __future__ import annotations

from pydantic import Field

from flowtape.common.messages.auth import Actor
from flowtape.common.messages.base import JsonItems, Message


class PinNodeOutput(Message):
    """Answered with the workflow's view (its ``pinned`` outputs); NotFound for a node its latest version lacks."""

    type_name = "engine.PinNodeOutput.v1"
    kind = "command"
    workflow_id: str
    node_id: str
    items: JsonItems
    port: str = Field(default="main", min_length=1, max_length=64)
    actor: Actor | None = None


class UnpinNodeOutput(Message):
    type_name = "engine.UnpinNodeOutput.v1"
    kind = "command"
    workflow_id: str
    node_id: str
    actor: Actor | None = None
