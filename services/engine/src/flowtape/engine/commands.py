"""Commands on executions: start, fork (retry and replay), cancel, the connectors' task outcomes, calls of
workflows by execute_workflow nodes (and their outcomes), and calls of resume URLs.

Each turns a message into one thing that happened and leaves the deciding to :class:`Decisions`; what is
checked here is only what needs more than the execution's own log (the workflow, idempotency keys, limits).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from flowtape.common import telemetry, views
from flowtape.common.errors import Conflict, FlowtapeError, InvalidInput, NotFound, RateLimited
from flowtape.common.limits import DEFAULT_LIMITS, Limits, check_items
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import NodeTaskCompleted
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.resume_tokens import ResumeTokens
from flowtape.engine.admission import Admissions
from flowtape.engine.decisions import Clock, Decisions
from flowtape.engine.domain.breakpoints import DebugInputEdited, DebugReleased, checked_debug
from flowtape.engine.domain.decider import Admitted, CancelRequested, ChildFinished, ResumeCalled, TaskCompleted
from flowtape.engine.domain.execution import Execution, Items
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.workflow import Workflow
from flowtape.engine.integration import child_notice
from flowtape.engine.pinned import pinned_nodes, use_pinned_outputs
from flowtape.engine.projections import Projections
from flowtape.engine.quotas import Quotas
from flowtape.engine.run_counts import RunningCounts
from flowtape.engine.run_variables import RunVariables
from flowtape.engine.views import execution_view
from flowtape.engine.workflows import Workflows


def started_reply(execution: Execution, tokens: ResumeTokens | None = None) -> views.ExecutionStarted:
    return views.ExecutionStarted(
        execution_id=str(execution.id),
        status=execution.status,
        execution=execution_view(execution, tokens=tokens) if execution.finished else None,
    )


class ExecutionCommands:
    def __init__(
        self,
        *,
        decisions: Decisions,
        workflows: Workflows,
        projections: Projections,
        clock: Clock,
        limits: Limits = DEFAULT_LIMITS,
        variables: RunVariables | None = None,
        admissions: Admissions | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        """Without ``variables``, runs see no ``vars``; without ``quotas``, projects have none."""
        self._admissions = admissions
        self._quotas = quotas
        self._decisions = decisions
        self._variables = variables
        self._workflows = workflows
        self._projections = projections
        self._clock = clock
        self._limits = limits
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._running = RunningCounts(projections.running_count)

    # -- starting ----------------------------------------------------------------------------------------

    async def start(self, command: msg.StartExecution) -> views.ExecutionStarted:
        check_items(command.input, self._limits, what="the run's input")
        if command.execution_id is not None:
            chosen = str(command.execution_id)
            async with self._key_locks.setdefault(chosen, asyncio.Lock()):
                try:
                    known = self._decisions.cached(chosen)
                    if known is not None:
                        return started_reply(known)
                    # a start is new far more often than it is repeated: insert first, rather than read the log
                    # for every start; a repeated one (a redelivery, a gateway's retry) meets the run in the log
                    return await self._start_keyed(command)
                except IntegrityError:
                    return started_reply(await self._decisions.load(chosen))
                finally:
                    self._key_locks.pop(chosen, None)
        return await self._start_keyed(command)

    async def _start_keyed(self, command: msg.StartExecution) -> views.ExecutionStarted:
        if not command.idempotency_key:
            return await self._start(command)
        async with self._key_locks.setdefault(command.idempotency_key, asyncio.Lock()):
            try:
                known = await self._projections.execution_for_key(command.idempotency_key)
                if known is not None:
                    try:
                        return started_reply(await self._decisions.load(known))
                    except NotFound:
                        pass  # the engine stopped between remembering the key and saving the run
                return await self._start(command)
            finally:
                self._key_locks.pop(command.idempotency_key, None)

    async def _start(self, command: msg.StartExecution) -> views.ExecutionStarted:
        workflow = await self._workflows.load(command.workflow_id)
        version = command.version or workflow.latest_version
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {command.workflow_id} has no version {version}")
        caller = command.trigger.get("caller")
        if isinstance(caller, dict) and caller.get("project_id", DEFAULT_PROJECT) != workflow.project_id:
            # an execute_workflow node of another project: to it, this workflow does not exist
            raise NotFound(f"workflow {command.workflow_id!r} does not exist")
        await self._check_queue(command.workflow_id)
        async with self._admitting(workflow.project_id):
            return await self._begin_start(command, workflow, version)

    async def _begin_start(
        self, command: msg.StartExecution, workflow: Workflow, version: int
    ) -> views.ExecutionStarted:
        graph = await self._workflows.graph(command.workflow_id, version, workflow)
        meta = {**command.trigger, "project_id": workflow.project_id}
        if self._variables is not None:
            meta.update(await self._variables.for_start(command.workflow_id, graph, workflow.project_id))
        pinned = pinned_nodes(graph, workflow) if command.test else []
        if command.test:
            meta.update(test=True, pinned=pinned)
        if command.debug is not None:
            meta["debug"] = checked_debug(command.debug.model_dump(), set(graph.nodes))
        limit = graph.definition.settings.get("max_concurrent_runs")
        queued: str | None = None
        if self._admissions is not None and self._admissions.gated(command.workflow_id, limit, self._decisions.paused):
            meta["gated"] = True  # its finish frees its place (see flowtape.engine.admission)
            queued = await self._admissions.enter(command.workflow_id, str(command.execution_id), limit)
        execution = self._new(graph, command.workflow_id, version, command.input or [{}], meta, command.execution_id)
        use_pinned_outputs(execution, workflow, pinned)
        if queued is not None:
            execution.queue(queued)
        if command.idempotency_key:
            await self._projections.remember_key(command.idempotency_key, str(execution.id))
        return started_reply(await self._decisions.begin(execution, graph))

    async def _check_queue(self, workflow_id: str) -> None:
        """Refuse a start while the workflow has ``max_queued_runs_per_workflow`` runs under way. The count is the
        read model's (shared by every engine replica): starts racing at the bound may pass it by a few."""
        bound = self._limits.max_queued_runs_per_workflow
        running = await self._running.count(workflow_id, bound)
        if running >= bound:
            raise RateLimited(
                f"workflow {workflow_id} has {running} runs under way, the most it may queue "
                "(FLOWTAPE_MAX_QUEUED_RUNS_PER_WORKFLOW); try again when some have finished",
                {"workflow_id": workflow_id, "running": running, "limit": bound, "retry_after": 5},
            )

    def _new(
        self,
        graph: WorkflowGraph,
        workflow_id: str,
        version: int,
        trigger: Items,
        meta: dict[str, Any],
        execution_id: UUID | None = None,
        parent_trace: dict[str, str] | None = None,
    ) -> Execution:
        # the run's trace is the one it starts in; a fork also records its parent's, to link to
        meta = {key: value for key, value in meta.items() if key not in ("trace", "parent_trace")}
        if (trace := telemetry.current_traceparent()) is not None:
            meta["trace"] = trace
        if parent_trace:
            meta["parent_trace"] = parent_trace
        timeout = graph.definition.settings.get("timeout_seconds")
        deadline = self._clock() + timedelta(seconds=float(timeout)) if timeout else None
        return Execution.begin(
            execution_id,
            workflow_id=workflow_id,
            workflow_version=version,
            trigger=trigger,
            trigger_meta=meta,
            node_ids=list(graph.nodes),
            deadline=deadline,
        )

    # -- forks: retry and replay -------------------------------------------------------------------------

    async def retry(self, execution_id: str, fork_id: UUID | None = None) -> views.ExecutionStarted:
        parent = await self._decisions.read(execution_id)
        failed = parent.first_failed()
        if failed is None:
            raise Conflict(f"execution {execution_id} has no failed node to retry from ({parent.status})")
        return await self.replay(execution_id, failed, "original", None, fork_id)

    async def replay(
        self,
        execution_id: str,
        from_node: str,
        version_choice: str | int,
        input_override: Items | None,
        fork_id: UUID | None = None,
    ) -> views.ExecutionStarted:
        """A new execution, forked from ``execution_id`` at ``from_node`` (the parent is only read)."""
        parent = await self._decisions.read(execution_id)
        if not parent.finished:
            raise Conflict(f"execution {execution_id} is still {parent.status}; cancel it or wait for it to finish")
        workflow = await self._workflows.load(parent.workflow_id)
        if version_choice == "original":
            version = parent.workflow_version
        elif version_choice == "latest":
            version = workflow.latest_version
        else:
            version = int(version_choice)
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {parent.workflow_id} has no version {version}")
        graph = await self._workflows.graph(parent.workflow_id, version, workflow)
        if from_node not in graph.nodes:
            raise InvalidInput(f"node {from_node!r} does not exist in version {version} of the workflow")
        if input_override is not None:
            check_items(input_override, self._limits, what=f"the input given for node {from_node}")
        parent_trace = parent.trigger_meta.get("trace")
        # a replay runs through (no breakpoints) and takes no place among its workflow's concurrent runs
        meta = {key: value for key, value in parent.trigger_meta.items() if key not in ("debug", "gated")}
        execution = self._new(graph, parent.workflow_id, version, parent.trigger, meta, fork_id, parent_trace)
        execution.fork_from(parent_id=execution_id, node_id=from_node, input_override=input_override)
        if input_override is not None and graph.loops_around(from_node):
            loop = graph.loops_around(from_node)[-1]
            raise InvalidInput(
                f"node {from_node!r} runs once per batch of loop {loop!r}: replay it without an input, "
                f"or replay from {loop!r} with one"
            )
        rerun = graph.rerun_from(from_node)
        for node_id in graph.order:
            before = parent.nodes.get(node_id)
            if node_id in rerun or before is None or before.status not in ("succeeded", "skipped"):
                continue
            execution.copy_node(node_id, before.status, before.input, before.ports)
        async with self._admitting(workflow.project_id):  # a replay is a new run of the project
            return started_reply(await self._decisions.begin(execution, graph))

    def _admitting(self, project_id: str) -> AbstractAsyncContextManager[None]:
        return self._quotas.admitting(project_id) if self._quotas is not None else nullcontext()

    # -- what happens to a running execution -------------------------------------------------------------

    async def cancel(self, execution_id: str, reason: str, only_if_running: bool = False) -> dict[str, Any]:
        try:
            execution = await self._decisions.apply(execution_id, CancelRequested(reason))
        except (Conflict, NotFound):
            if only_if_running:  # a caller stopping a child that finished (or never started): nothing to do
                return {"execution_id": execution_id, "status": None}
            raise
        return {"execution_id": execution_id, "status": execution.status}

    # -- calls between workflows -------------------------------------------------------------------------

    async def call(self, command: msg.CallWorkflow) -> None:
        """Start the child an execute_workflow node asked for; its outcome reaches the caller when it finishes
        (at once when it had already: the call was sent again after a crash)."""
        child_id = str(command.execution_id)
        try:
            existing: Execution | None = await self._decisions.load(child_id)
        except NotFound:
            existing = None
        if existing is not None:
            notice = child_notice(existing) if existing.finished else None
            if notice is not None:
                self._decisions.notify([notice])
            return
        start = msg.StartExecution(
            workflow_id=command.workflow_id,
            version=command.version,
            input=command.input,
            trigger={"caller": command.caller.model_dump()},
            execution_id=command.execution_id,
        )
        try:
            await self.start(start)
        except FlowtapeError as exc:
            if isinstance(exc, NotFound | InvalidInput) or exc.code == "payload_too_large":
                what = f"workflow {command.workflow_id}" + (f" version {command.version}" if command.version else "")
                self._decisions.notify(
                    [
                        msg.ChildExecutionFinished(
                            execution_id=command.caller.execution_id,
                            node_id=command.caller.node_id,
                            child_execution_id=child_id,
                            status="failed",
                            error=f"{what} could not be started: {exc.message}",
                            started_at=self._clock(),
                        )
                    ]
                )
                return
            raise

    async def child_finished(self, notice: msg.ChildExecutionFinished) -> None:
        await self._decisions.apply(
            notice.execution_id,
            ChildFinished(
                node_id=notice.node_id,
                child_execution_id=notice.child_execution_id,
                started_at=notice.started_at,
                succeeded=notice.status == "succeeded",
                output=notice.output,
                error=notice.error or notice.status,
            ),
        )

    # -- resume URLs -------------------------------------------------------------------------------------

    async def resume(self, command: msg.ResumeExecution) -> dict[str, Any]:
        """A resume URL was called: the wait it names goes on with the call's body."""
        tokens = self._decisions.resume_tokens
        unknown = NotFound("this resume URL does not exist (or its execution is gone)")
        if tokens is None:
            raise unknown
        try:
            execution = await self._decisions.load(command.execution_id)
        except NotFound:
            raise unknown from None
        found: tuple[str, int] | None = None
        for node_id, run in execution.nodes.items():
            if run.call is None and run.runs == 1:
                continue
            for runs in range(run.runs, 0, -1):
                if tokens.matches(command.token, command.execution_id, node_id, runs):
                    found = (node_id, runs)
                    break
            if found:
                break
        if found is None:
            raise unknown
        check_items(command.body, self._limits, what="the resume call's body")
        resumed = await self._decisions.apply(command.execution_id, ResumeCalled(found[0], found[1], command.body))
        return {"execution_id": command.execution_id, "node": found[0], "status": resumed.status}

    async def admit(self, execution_id: str) -> None:
        """A queued run got its place: it begins (a run already admitted ignores it)."""
        await self._decisions.apply(execution_id, Admitted())

    async def debug(self, command: msg.DebugExecution) -> views.Execution:
        """An operator's move on a debug run paused at a breakpoint: edit the paused node's input, step, continue."""
        happened: DebugInputEdited | DebugReleased
        if command.action == "input":
            if command.input is None:
                raise InvalidInput("give the paused node's new input items", [{"field": "input"}])
            check_items(command.input, self._limits, what="the edited input")
            happened = DebugInputEdited(list(command.input))
        else:
            happened = DebugReleased(step=command.action == "step")
        execution = await self._decisions.apply(command.execution_id, happened)
        return execution_view(execution, tokens=self._decisions.resume_tokens)

    async def complete_node_task(self, outcome: NodeTaskCompleted) -> None:
        await self._decisions.apply(
            outcome.execution_id,
            TaskCompleted(
                node_id=outcome.node_id,
                attempt=outcome.attempt,
                started_at=outcome.started_at,
                succeeded=outcome.outcome == "succeeded",
                ports=outcome.ports,
                error=outcome.error,
                error_code=outcome.error_code,
                retry_after=outcome.retry_after_seconds,
                run=outcome.run,
            ),
        )
