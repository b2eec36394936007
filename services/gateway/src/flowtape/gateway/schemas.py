"""Request and response bodies of the public API (what the OpenAPI document shows)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.engine import DebugOptions
from flowtape.common.workflow import WorkflowDefinition


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: list[dict[str, Any]] = Field(default_factory=list, description="the trigger items")
    version: int | None = Field(default=None, ge=1, description="run this version instead of the latest")
    test: bool = Field(
        default=False, description="a test run (the editor's): nodes with a pinned output are not run, it stands in"
    )
    debug: DebugOptions | None = Field(
        default=None, description="run in debug mode: stop before these nodes, or when a node's condition holds"
    )


class ExecutionAccepted(BaseModel):
    execution_id: str


class ValueChange(BaseModel):
    path: str = Field(description="a JSON pointer into the compared value")
    op: Literal["changed", "added", "removed"]
    a: Any = None
    b: Any = None


class Changes(BaseModel):
    changes: list[ValueChange]
    truncated: bool = Field(description="more changes than the response lists")


class NodeDiff(BaseModel):
    model_config = ConfigDict(extra="allow")

    same: bool
    in_: Literal["both", "a", "b"] = Field(alias="in", description="which runs have the node")
    status: dict[str, Any] | None = None
    input: Changes | None = None
    output: Changes | None = None


class RunPaths(BaseModel):
    a: list[str]
    b: list[str]
    common: list[str]
    diverged_at: str | None = Field(description="the first node the two runs' paths disagree on")
    only_in_a: list[str]
    only_in_b: list[str]


class ExecutionDiff(BaseModel):
    a: dict[str, Any]
    b: dict[str, Any]
    same: bool
    status: dict[str, Any] | None = None
    output: Changes
    changed_nodes: list[str]
    nodes: dict[str, NodeDiff]
    paths: RunPaths


class ExportedCredential(BaseModel):
    name: str
    type: str


class ExportedWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="the id it had where it was exported: importing it again finds it by this")
    definition: dict[str, Any] = Field(description="the latest version, credentials named, never their data")


class WorkflowExport(BaseModel):
    """An export file: workflows with credentials referred to by name (their data is never in it)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["flowtape.workflows"] = "flowtape.workflows"
    format_version: Literal[1] = 1
    exported_at: str | None = None
    #: an export of a platform without workflows has none; an import needs at least one (below)
    workflows: list[ExportedWorkflow] = Field(default_factory=list)
    credentials: list[ExportedCredential] = Field(
        default_factory=list, description="the credentials the workflows name, by name and type"
    )


class WorkflowImport(WorkflowExport):
    workflows: list[ExportedWorkflow] = Field(min_length=1, max_length=1000)
    credentials_map: dict[str, str] = Field(
        default_factory=dict, description="a credential name in the file → the name of the one to use here"
    )


class ImportedWorkflow(BaseModel):
    source_id: str
    id: str
    name: str
    version: int
    outcome: Literal["created", "unchanged", "updated", "copied"]


class ImportReport(BaseModel):
    items: list[ImportedWorkflow]
    missing_credentials: list[str] = Field(description="credentials the workflows name that do not exist here")


class DuplicateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, description="default: '<name> (copy)'")
    project_id: str | None = Field(default=None, max_length=64, description="the copy's project (default: the same)")


class NewWorkflow(WorkflowDefinition):
    """A workflow's definition, and on create the project it goes into for good."""

    project_id: str | None = Field(
        default=None, max_length=64, description="its project (default: yours); a workflow never changes project"
    )


class StepTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] | None = Field(default=None, description="the node's input items")
    execution_id: str | None = Field(
        default=None,
        description="a past run of the workflow: the node's input (unless items are given) and the "
        "other nodes' outputs, in scope of expressions, are taken from it",
    )
    version: int | None = Field(default=None, ge=1, description="the workflow version's node (default: latest)")
    ignore_pin: bool = Field(default=False, description="run the node even when its output is pinned")


class StepTestResult(BaseModel):
    workflow_id: str
    workflow_version: int
    node: str
    type: str
    status: Literal["succeeded", "failed"]
    input: list[dict[str, Any]]
    ports: dict[str, list[dict[str, Any]]]
    output: list[dict[str, Any]] | None = None
    error: str | None = None
    error_code: str | None = None
    pinned: bool = Field(default=False, description="the node's pinned output, given back without running it")
