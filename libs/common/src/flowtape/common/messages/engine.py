"""Messages the engine owns: workflow and execution commands, queries and events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import Actor
from flowtape.common.messages.base import JsonItems, Message
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.views import Execution, ProjectQuotas
from flowtape.common.views import ExecutionStatus as ExecutionStatus

#: the namespace of execution ids derived from idempotency keys (a schedule's fire key, a message's id)
_START_KEYS = UUID("6f7c1b9e-53f4-4b0e-9a55-3c2f7f4b8d21")

#: a dead letter's id (a PostgreSQL integer: a number outside it names none, and is refused as such)
DeadLetterId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class CreateWorkflow(Message):
    type_name = "engine.CreateWorkflow.v1"
    kind = "command"
    definition: dict[str, Any]
    #: the project it belongs to, for good (the gateway checked the caller may create there)
    project_id: str = DEFAULT_PROJECT
    #: the caller, so that the engine writes the audit entry once the change is saved
    actor: Actor | None = None


class UpdateWorkflow(Message):
    type_name = "engine.UpdateWorkflow.v1"
    kind = "command"
    workflow_id: str
    definition: dict[str, Any]
    #: the caller, so that the engine writes the audit entry once the change is saved
    actor: Actor | None = None


class DeleteWorkflow(Message):
    type_name = "engine.DeleteWorkflow.v1"
    kind = "command"
    workflow_id: str
    #: the caller, so that the engine writes the audit entry once the change is saved
    actor: Actor | None = None


class SetWorkflowActive(Message):
    type_name = "engine.SetWorkflowActive.v1"
    kind = "command"
    workflow_id: str
    active: bool
    #: the caller, so that the engine writes the audit entry once the change is saved
    actor: Actor | None = None


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
    #: filters (all that are given must hold): a part of the name (any case), a tag, a node type used
    name: str | None = None
    tag: str | None = None
    node_type: str | None = None
    #: only workflows of these projects (None: every project, [] none)
    project_ids: list[str] | None = None


class ImportWorkflow(Message):
    """Put an exported workflow in: under its exported id, so importing the same file again is the same workflow
    (unchanged when the definition is, a new version when it is not); ``as_copy`` makes a new workflow instead."""

    type_name = "engine.ImportWorkflow.v1"
    kind = "command"
    workflow_id: UUID
    definition: dict[str, Any]
    as_copy: bool = False
    #: where a new workflow goes; an existing one keeps its own project, and is NotFound unless in ``project_ids``
    project_id: str = DEFAULT_PROJECT
    project_ids: list[str] | None = None
    actor: Actor | None = None


class DuplicateWorkflow(Message):
    type_name = "engine.DuplicateWorkflow.v1"
    kind = "command"
    workflow_id: str
    name: str | None = None
    #: the copy's project (None: the source's)
    project_id: str | None = None
    actor: Actor | None = None


class ListWorkflowVersions(Message):
    type_name = "engine.ListWorkflowVersions.v1"
    kind = "query"
    workflow_id: str


class DebugOptions(BaseModel):
    """A run in debug mode stops before each node of ``breakpoints``, and before a node of ``conditions`` when its
    expression holds for one of the node's input items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    breakpoints: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=1000
    )
    conditions: dict[str, Annotated[str, Field(min_length=1, max_length=2000)]] = Field(default_factory=dict)


class StartExecution(Message):
    """Run a workflow's latest version (or ``version``) with ``input`` as the trigger items."""

    type_name = "engine.StartExecution.v1"
    kind = "command"
    workflow_id: str
    version: int | None = None
    input: JsonItems = Field(default_factory=list)
    trigger: dict[str, Any] = Field(default_factory=dict)
    #: a test run from the editor: nodes with a pinned output are not run, their pinned output stands in
    test: bool = False
    #: a second StartExecution with the same key returns the first one's execution instead of starting anew
    idempotency_key: StoredText | None = Field(default=None, max_length=300)
    #: the id the new execution takes (a UUID the caller chose, so that a caller who stops waiting can still name
    #: the run); starting an id that exists already answers with that execution, like an idempotency key. When
    #: the sender gives none it is derived from ``idempotency_key`` (or drawn at random): it names the partition,
    #: and so the engine replica, that decides the run
    execution_id: UUID | None = None
    #: start in debug mode: stop at these breakpoints
    debug: DebugOptions | None = None

    @model_validator(mode="after")
    def _choose_id(self) -> StartExecution:
        if self.execution_id is None:
            chosen = uuid5(_START_KEYS, self.idempotency_key) if self.idempotency_key else uuid4()
            object.__setattr__(self, "execution_id", chosen)
        return self


class DebugExecution(Message):
    """Operator → the partition of a debug run paused at a breakpoint: ``input`` replaces the paused node's
    input; ``step`` runs it and stops before the next node; ``continue`` runs on to the next breakpoint."""

    type_name = "engine.DebugExecution.v1"
    kind = "command"
    execution_id: str
    action: Literal["input", "step", "continue"]
    input: JsonItems | None = None


class AdmitExecution(Message):
    """Engine → the partition of a queued run: its workflow has room for it now (or starts were resumed)."""

    type_name = "engine.AdmitExecution.v1"
    kind = "command"
    execution_id: str


class PauseRuns(Message):
    """Stop new starts (they queue) and hold running runs at their next decision: of one workflow, or of all
    when ``workflow_id`` is None. ``paused`` False resumes them."""

    type_name = "engine.PauseRuns.v1"
    kind = "command"
    workflow_id: str | None = None
    paused: bool = True
    actor: Actor | None = None


class GetRunPauses(Message):
    type_name = "engine.GetRunPauses.v1"
    kind = "query"


class RunPausesChanged(Message):
    """Engine → every engine replica: a pause was set or lifted; hold or release the runs it decides."""

    type_name = "engine.RunPausesChanged.v1"


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
    #: only runs of these projects (None: every project, [] none)
    project_ids: list[str] | None = None


class ExecutionFinished(Message):
    """Published after an execution's final event is committed to its log."""

    type_name = "engine.ExecutionFinished.v1"
    workflow_id: str
    execution_id: str
    workflow_version: int
    status: ExecutionStatus
    #: the run's project: an execution_trigger of another project never sees it
    project_id: str = DEFAULT_PROJECT
    error: str | None = None
    #: the finished execution as GET /executions/{id} shows it, when it is small: a caller waiting on the run
    #: (run?wait=true, a synchronous webhook) answers from it without asking the engine again
    execution: Execution | None = None
    #: the start's reply carried the finished run already: no gateway waits for this notice, so it goes by a
    #: routing key only execution triggers listen to (see ``flowtape.common.topology.route_of``)
    answered: bool = False


class WorkflowChanged(Message):
    """Engine → every engine replica: a workflow got a new version or state; drop what memory holds of it."""

    type_name = "engine.WorkflowChanged.v1"
    workflow_id: str


class SyncWorkflowTriggers(Message):
    """Engine → triggers, before it records an activation change: register (or, with ``definition`` None,
    remove) the triggers of a workflow version. Answered with an error (e.g. Conflict on a webhook path that
    another active workflow holds) when the registration is refused; the engine then records nothing."""

    type_name = "triggers.SyncWorkflowTriggers.v1"
    kind = "command"
    workflow_id: str
    version: int | None = None
    definition: dict[str, Any] | None = None
    #: the workflow's project: its triggers open credentials of that project only
    project_id: str = DEFAULT_PROJECT


class ListActiveWorkflows(Message):
    """Triggers → engine on start: every active workflow's latest definition, to reconcile registrations."""

    type_name = "engine.ListActiveWorkflows.v1"
    kind = "query"


class CancelExecution(Message):
    type_name = "engine.CancelExecution.v1"
    kind = "command"
    execution_id: str
    reason: str = "cancelled by request"
    #: cancel it only if it is still running, and say nothing otherwise (a caller stopping its children)
    only_if_running: bool = False


class Caller(BaseModel):
    """The execution (and its execute_workflow node) that started a child execution."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    execution_id: str
    node_id: str
    workflow_id: str
    #: how many calls deep the child is (1: called by a run a trigger or a client started)
    depth: int = Field(ge=1)
    #: the caller's project: a workflow of another project is not found to it
    project_id: str = DEFAULT_PROJECT


class CallWorkflow(Message):
    """Engine → the partition of the child: start a workflow for an attempt of an execute_workflow node.

    ``execution_id`` is the child's, derived from the caller, node, run and attempt, so a call sent again (after
    a crash) names the same child; the engine answers every call, once the child finished, with a
    :class:`ChildExecutionFinished` (at once when it had, or when the workflow cannot be started)."""

    type_name = "engine.CallWorkflow.v1"
    kind = "command"
    execution_id: UUID
    workflow_id: str
    version: int | None = None
    input: JsonItems = Field(default_factory=list)
    caller: Caller


class ChildExecutionFinished(Message):
    """Engine → the partition of the caller: an execution started by an execute_workflow node finished."""

    type_name = "engine.ChildExecutionFinished.v1"
    #: the caller's execution
    execution_id: str
    node_id: str
    child_execution_id: str
    status: ExecutionStatus
    output: JsonItems = Field(default_factory=list)
    error: str | None = None
    started_at: datetime


class ResumeExecution(Message):
    """Gateway → the partition of the execution a resume URL names: its wait for a call was called.

    ``token`` is the URL's last segment, checked by the engine (it alone holds the key it is derived with).
    Answered with ``{"execution_id", "node", "status"}``; NotFound for a token that names no wait, Conflict
    for one already used or expired."""

    type_name = "engine.ResumeExecution.v1"
    kind = "command"
    execution_id: str
    token: str = Field(min_length=1, max_length=200)
    body: Any = None


class RetryExecution(Message):
    """Fork a finished execution at its first failed node, on the version it ran."""

    type_name = "engine.RetryExecution.v1"
    kind = "command"
    execution_id: str
    #: the new execution's id (it names the partition that decides the fork)
    fork_id: UUID = Field(default_factory=uuid4)


class ReplayExecution(Message):
    """Fork an execution at ``from_node``: what does not depend on it is copied, the rest runs again."""

    type_name = "engine.ReplayExecution.v1"
    kind = "command"
    execution_id: str
    from_node: str
    workflow_version: Literal["original", "latest"] | int = "original"
    input: JsonItems | None = None
    #: the new execution's id (it names the partition that decides the fork)
    fork_id: UUID = Field(default_factory=uuid4)


class StartBulkReplay(Message):
    """Replay every run of a workflow with ``status`` started at or after ``since``, a canary of ``canary`` first
    (see ``flowtape.engine.bulk_replays``); answered with the job."""

    type_name = "engine.StartBulkReplay.v1"
    kind = "command"
    workflow_id: str
    status: ExecutionStatus = "failed"
    since: datetime | None = None
    from_node: str | None = Field(default=None, min_length=1, max_length=128)
    workflow_version: Literal["original", "latest"] | Annotated[int, Field(ge=1)] = "original"
    canary: int = Field(default=0, ge=0, le=10_000)
    parallelism: int = Field(default=4, ge=1, le=64)
    dry_run: bool = False
    actor: Actor | None = None


class GetBulkReplay(Message):
    type_name = "engine.GetBulkReplay.v1"
    kind = "query"
    job_id: str


class ReplayCheck(Message):
    """Re-drive ``version``'s scheduling over recorded executions of the workflow, with no side effects."""

    type_name = "engine.ReplayCheck.v1"
    kind = "query"
    workflow_id: str
    version: int
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class RebuildProjections(Message):
    type_name = "engine.RebuildProjections.v1"
    kind = "command"


class RunRetention(Message):
    """Prune finished runs past their retention policy (``dry_run``: only say which); ``limit`` bounds one pass."""

    type_name = "engine.RunRetention.v1"
    kind = "command"
    dry_run: bool = False
    limit: int | None = Field(default=None, ge=1, le=100_000)


class GetProjectionStatus(Message):
    type_name = "engine.GetProjectionStatus.v1"
    kind = "query"


class ListDeadLetters(Message):
    type_name = "engine.ListDeadLetters.v1"
    kind = "query"
    limit: int = Field(default=100, ge=1, le=1000)
    include_replayed: bool = False


class ReplayDeadLetters(Message):
    """Publish dead letters again to the queue they died on (all pending ones when ``ids`` is empty)."""

    type_name = "engine.ReplayDeadLetters.v1"
    kind = "command"
    ids: list[DeadLetterId] = Field(default_factory=list)


class GetProjectOf(Message):
    """The project of a workflow, a run or a bulk replay (:class:`~flowtape.common.views.ProjectOf`), or
    NotFound; cheap, and stable for good, so the gateway caches it."""

    type_name = "engine.GetProjectOf.v1"
    kind = "query"
    kind_of: Literal["workflow", "execution", "bulk_replay"]
    id: str


class SetProjectQuotas(Message):
    """Replace a project's quotas (a platform admin's; the gateway checked the project exists); answers its
    :class:`~flowtape.common.views.ProjectUsage`. Every engine replica applies them within seconds."""

    type_name = "engine.SetProjectQuotas.v1"
    kind = "command"
    project_id: str
    quotas: ProjectQuotas
    actor: Actor | None = None


class GetProjectUsage(Message):
    """A project's quotas and what it uses of them (:class:`~flowtape.common.views.ProjectUsage`)."""

    type_name = "engine.GetProjectUsage.v1"
    kind = "query"
    project_id: str
