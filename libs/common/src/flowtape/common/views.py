"""What an execution and a workflow look like to clients (API.md's shapes), one model each.

The engine builds its replies from these models and the gateway declares them as its response models, so the
shape a client gets and the shape the engine sends are the same code, and the OpenAPI document shows them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.projects import DEFAULT_PROJECT

#: what a run's status may be: ``paused`` at a debug breakpoint or by a pause of starts (the kill switch),
#: ``queued`` until the workflow's ``max_concurrent_runs`` (or a pause) lets it start
ExecutionStatus = Literal["queued", "running", "waiting", "paused", "succeeded", "failed", "cancelled"]


class NodeState(BaseModel):
    status: Literal["pending", "scheduled", "running", "waiting", "succeeded", "failed", "skipped"]
    attempts: int
    input: list[dict[str, Any]] | None = None
    output: list[dict[str, Any]] | None = None
    port: str | None = None
    ports: dict[str, list[dict[str, Any]]] | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    resume_at: str | None = None
    runs: int | None = Field(default=None, description="a node inside a loop: how many times it ran so far")
    iteration: int | None = Field(default=None, description="the loop batch this run of the node is for")
    iterations: int | None = Field(default=None, description="a loop node: how many batches it has")
    child_execution_id: str | None = Field(default=None, description="an execute_workflow node: the run it started")
    resume_url: str | None = Field(default=None, description="a wait for a call: the URL that resumes it")


class ExecutionSummary(BaseModel):
    id: str
    workflow_id: str
    project_id: str = Field(default=DEFAULT_PROJECT, description="its workflow's project, fixed at its start")
    workflow_version: int
    status: ExecutionStatus
    started_at: str | None = None
    finished_at: str | None = None
    parent: dict[str, Any] | None = None
    pruned: bool = Field(default=False, description="retention removed its log: only this summary remains")


class Execution(ExecutionSummary):
    nodes: dict[str, NodeState]
    output: list[dict[str, Any]]
    error: str | None = None
    failed_node: str | None = None
    children: list[str] | None = None
    trace_id: str | None = Field(default=None, description="the OpenTelemetry trace of the run, when traced")
    caller: dict[str, Any] | None = Field(default=None, description="the run whose execute_workflow node started this")
    calls: list[dict[str, Any]] = Field(
        default_factory=list, description="runs this one's execute_workflow nodes started"
    )
    events: int
    pruned_at: str | None = Field(default=None, description="when retention removed its log")
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="the variables (vars.NAME) the run recorded at its start; secret ones as [secret]",
    )
    test: bool = Field(default=False, description="a test run from the editor: pinned outputs stood in for nodes")
    debug: dict[str, Any] | None = Field(
        default=None, description="a debug run: its breakpoints, conditions and where it is paused (paused_at)"
    )


class ExecutionPage(BaseModel):
    items: list[ExecutionSummary]
    next_cursor: str | None = None


class ExecutionEvent(BaseModel):
    seq: int
    type: str
    at: str
    data: dict[str, Any]


class ExecutionEvents(BaseModel):
    items: list[ExecutionEvent]


class Workflow(BaseModel):
    id: str
    name: str
    project_id: str = DEFAULT_PROJECT
    version: int
    latest_version: int
    active: bool
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    settings: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str
    pinned: dict[str, dict[str, list[dict[str, Any]]]] = Field(
        default_factory=dict,
        description="outputs pinned in the draft, by node and port: used instead of running the node in test runs",
    )


class WorkflowSummary(BaseModel):
    id: str
    name: str
    project_id: str = DEFAULT_PROJECT
    version: int
    active: bool
    tags: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str


class WorkflowPage(BaseModel):
    items: list[WorkflowSummary]
    next_cursor: str | None = None


class WorkflowVersion(BaseModel):
    version: int
    name: str | None = None
    saved_at: str


class WorkflowVersions(BaseModel):
    items: list[WorkflowVersion]


class ExecutionStarted(BaseModel):
    """The engine's answer to a start: the id, and the finished run when it finished within the decision."""

    execution_id: str
    status: ExecutionStatus
    execution: Execution | None = None


class BulkReplayItem(BaseModel):
    """One selected run of a bulk replay, and what became of it."""

    source: str = Field(description="the run replayed")
    source_version: int
    started_at: str | None = None
    phase: Literal["canary", "rest"]
    execution_id: str | None = Field(default=None, description="its replay, once started")
    outcome: Literal["pending", "running", "succeeded", "failed", "cancelled", "skipped", "not_started"] = "pending"
    note: str | None = None
    other_path: list[str] | None = Field(
        default=None, description="dry run on a target version: the nodes where it would take another path"
    )


class BulkReplayJob(BaseModel):
    """A bulk replay: the query, the runs it selected (oldest first) and its progress."""

    id: str
    workflow_id: str
    project_id: str = DEFAULT_PROJECT
    status: str
    since: str | None = None
    from_node: str | None = None
    workflow_version: Literal["original", "latest"] | int
    canary: int
    parallelism: int
    dry_run: bool
    state: Literal["planned", "running", "canary_failed", "succeeded", "failed", "interrupted"]
    total: int
    done: int = 0
    items: list[BulkReplayItem]
    created_at: str
    finished_at: str | None = None
    error: str | None = None


class ProjectOf(BaseModel):
    """The project a workflow, a run or a bulk replay belongs to (it never changes, so callers may cache it)."""

    project_id: str


class ProjectQuotas(BaseModel):
    """A project's quotas, set by platform admins (None: no limit). A start beyond one is refused (429)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: ``false`` is no number of runs

    executions_per_day: int | None = Field(default=None, ge=0, le=10**9, description="runs started per UTC day")
    concurrent_runs: int | None = Field(
        default=None, ge=0, le=10**6, description="runs under way at once (a run parked in a wait does not count)"
    )
    stored_bytes: int | None = Field(
        default=None, ge=0, le=2**62, description="bytes the project's runs keep in the execution log"
    )


class ProjectUsageFigures(BaseModel):
    executions_today: int = Field(description="runs started since the UTC day began")
    concurrent_runs: int = Field(description="runs under way now")
    stored_bytes: int = Field(description="bytes the project's runs keep in the execution log")


class ProjectUsage(BaseModel):
    """A project's quotas beside what it uses of them."""

    project_id: str
    quotas: ProjectQuotas
    usage: ProjectUsageFigures
    day_started_at: str = Field(description="the UTC midnight that executions_today counts from")
