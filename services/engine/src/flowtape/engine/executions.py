"""Executions: every decision about a run, and every question about one.

A decision happens under its execution's lock: load (from the live cache or the log), apply events, let the
scheduling core pick what is next, evaluate pure nodes inline, save once, then hand the resulting messages to
the outbox. The engine is the single writer of the executions it runs, so live ones stay in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from flowtape.common import logs
from flowtape.common.errors import Conflict, InvalidInput, NodeError, NotFound
from flowtape.common.messages import engine as msg
from flowtape.common.messages.base import Message
from flowtape.common.messages.connectors import CancelNodeTasks, NodeTaskCompleted, RunNodeTask
from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.common.nodes.sdk import NodeContext, NodeType, execute_node, resolve_params
from flowtape.common.workflow import RetryPolicy
from flowtape.engine.domain.execution import Execution, Items
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.scheduling import all_settled, decide, final_output
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.outbox import Outbox
from flowtape.engine.projections import Projections
from flowtape.engine.replay_check import differences, redrive
from flowtape.engine.store import ExecutionLog, LogWriter
from flowtape.engine.timers import Timers
from flowtape.engine.views import event_view, execution_view
from flowtape.engine.workflows import Workflows, parse_id

log = logging.getLogger("flowtape.engine")

Clock = Callable[[], datetime]
FINISHED_CACHE = 512
#: a dispatched task with no outcome this long after its timeout is dispatched again (same attempt and key)
LEASE_GRACE_SECONDS = 60.0
DEFAULT_TASK_TIMEOUT = 300.0
#: how a node without a retry policy is retried when the remote side said "too many requests, retry after"
RATE_LIMITED_RETRY = RetryPolicy(max_attempts=5, backoff_seconds=1.0, retry_on=["rate_limited"])


def backoff(policy: RetryPolicy, failed_attempt: int, rand: Callable[[], float]) -> float:
    """Exponential backoff with equal jitter: half the delay is fixed, half random (the result is recorded)."""
    delay = min(policy.max_backoff_seconds, policy.backoff_seconds * 2.0 ** (failed_attempt - 1))
    return float(delay / 2 + rand() * delay / 2)


class Executions:
    def __init__(
        self,
        *,
        store: ExecutionLog,
        writer: LogWriter,
        workflows: Workflows,
        projections: Projections,
        outbox: Outbox,
        clock: Clock,
        metrics: EngineMetrics | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._writer = writer
        self._workflows = workflows
        self._projections = projections
        self._outbox = outbox
        self._clock = clock
        self._metrics = metrics or EngineMetrics()
        self._rand = rand
        self._timers = Timers(clock)
        self._pure: dict[str, NodeType[Any]] = {cls.type: cls() for cls in BUILTIN_NODES if cls.pure}
        self._live: dict[str, Execution] = {}
        self._finished: OrderedDict[str, Execution] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}

    # -- starting ----------------------------------------------------------------------------------------

    async def start(self, command: msg.StartExecution) -> dict[str, Any]:
        if not command.idempotency_key:
            return await self._start(command)
        async with self._key_locks.setdefault(command.idempotency_key, asyncio.Lock()):
            try:
                known = await self._projections.execution_for_key(command.idempotency_key)
                if known is not None:
                    try:
                        return self._started_reply(await self._load(known))
                    except NotFound:
                        pass  # the engine stopped between remembering the key and saving the run
                return await self._start(command)
            finally:
                self._key_locks.pop(command.idempotency_key, None)

    async def _start(self, command: msg.StartExecution) -> dict[str, Any]:
        workflow = await self._workflows.load(command.workflow_id)
        version = command.version or workflow.latest_version
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {command.workflow_id} has no version {version}")
        graph = await self._workflows.graph(command.workflow_id, version, workflow)
        execution = self._new(graph, command.workflow_id, version, command.input or [{}], command.trigger)
        if command.idempotency_key:
            await self._projections.remember_key(command.idempotency_key, str(execution.id))
        await self._run_new(execution, graph)
        return self._started_reply(execution)

    def _new(
        self, graph: WorkflowGraph, workflow_id: str, version: int, trigger: Items, meta: dict[str, Any]
    ) -> Execution:
        timeout = graph.definition.settings.get("timeout_seconds")
        deadline = self._clock() + timedelta(seconds=float(timeout)) if timeout else None
        return Execution(
            workflow_id=workflow_id,
            workflow_version=version,
            trigger=trigger,
            trigger_meta=meta,
            node_ids=list(graph.nodes),
            deadline=deadline,
        )

    async def _run_new(self, execution: Execution, graph: WorkflowGraph) -> None:
        execution_id = str(execution.id)
        logs.execution_id.set(execution_id)
        self._metrics.executions_started.inc()
        async with self._lock(execution_id):
            self._live[execution_id] = execution
            messages = await self._advance(execution, graph)
            await self._commit(execution, messages)

    def _started_reply(self, execution: Execution) -> dict[str, Any]:
        return {
            "execution_id": str(execution.id),
            "status": execution.status,
            "execution": execution_view(execution) if execution.finished else None,
        }

    # -- forks: retry and replay -------------------------------------------------------------------------

    async def retry(self, execution_id: str) -> dict[str, Any]:
        parent = await self._load(execution_id)
        failed = parent.first_failed()
        if failed is None:
            raise Conflict(f"execution {execution_id} has no failed node to retry from ({parent.status})")
        return await self.replay(execution_id, failed, "original", None)

    async def replay(
        self, execution_id: str, from_node: str, version_choice: str | int, input_override: Items | None
    ) -> dict[str, Any]:
        parent = await self._load(execution_id)
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
        execution = self._new(graph, parent.workflow_id, version, parent.trigger, parent.trigger_meta)
        execution.fork_from(parent_id=execution_id, node_id=from_node, input_override=input_override)
        rerun = graph.reachable_from(from_node)
        for node_id in graph.order:
            before = parent.nodes.get(node_id)
            if node_id in rerun or before is None or before.status not in ("succeeded", "skipped"):
                continue
            execution.copy_node(node_id, before.status, before.input, before.ports)
        await self._run_new(execution, graph)
        return self._started_reply(execution)

    # -- outcomes ----------------------------------------------------------------------------------------

    async def complete_node_task(self, outcome: NodeTaskCompleted) -> None:
        logs.execution_id.set(outcome.execution_id)
        async with self._lock(outcome.execution_id):
            execution = await self._load(outcome.execution_id)
            run = execution.nodes.get(outcome.node_id)
            if execution.finished or run is None or run.attempts != outcome.attempt:
                log.info("ignored a late or duplicate outcome of node %s", outcome.node_id)
                return
            if run.status not in ("scheduled", "running"):
                return
            graph = await self._graph(execution)
            execution.start_node(outcome.node_id, outcome.attempt, outcome.started_at)
            if outcome.outcome == "succeeded":
                execution.succeed_node(outcome.node_id, outcome.attempt, outcome.ports)
            else:
                self._node_failed(
                    execution,
                    graph,
                    outcome.node_id,
                    outcome.attempt,
                    outcome.error or "failed",
                    outcome.error_code,
                    outcome.retry_after_seconds,
                )
            messages = await self._advance(execution, graph)
            await self._commit(execution, messages)

    def _node_failed(
        self,
        execution: Execution,
        graph: WorkflowGraph,
        node_id: str,
        attempt: int,
        error: str,
        code: str | None,
        retry_after: float | None = None,
    ) -> None:
        """Record the failure; retry when the node's policy allows, else fail the execution. A remote "retry
        after" (HTTP 429) is retried no sooner than it asks, by a default policy when the node has none."""
        execution.fail_node(node_id, attempt, error, code or "")
        policy = graph.nodes[node_id].retry
        if policy is None and retry_after is not None:
            policy = RATE_LIMITED_RETRY
        retryable = policy is not None and (policy.retry_on is None or (code or "") in policy.retry_on)
        pure = graph.nodes[node_id].type in self._pure  # deterministic: another attempt fails the same way
        if policy is not None and retryable and attempt < policy.max_attempts and not pure:
            delay = max(backoff(policy, attempt, self._rand), retry_after or 0.0)
            retry_at = self._clock() + timedelta(seconds=delay)
            execution.schedule_retry(node_id, attempt, retry_at)
            return
        suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
        execution.fail(f"node {node_id} failed{suffix}: {error}", node_id)

    async def retry_node(self, execution_id: str, node_id: str) -> None:
        """A retry's backoff has passed: dispatch the next attempt."""
        logs.execution_id.set(execution_id)
        async with self._lock(execution_id):
            execution = await self._load(execution_id)
            run = execution.nodes.get(node_id)
            if execution.finished or run is None or run.status != "retrying":
                return
            graph = await self._graph(execution)
            attempt = run.attempts + 1
            execution.schedule_node(node_id, attempt, run.input or [], dispatch=True)
            messages: list[Message] = [self._task(execution, graph, node_id)]
            messages += await self._advance(execution, graph)
            await self._commit(execution, messages)

    async def wake(self, execution_id: str, node_id: str) -> None:
        """A wait node's time has come: it succeeds with its input and the run goes on."""
        logs.execution_id.set(execution_id)
        async with self._lock(execution_id):
            execution = await self._load(execution_id)
            run = execution.nodes.get(node_id)
            if execution.finished or run is None or run.status != "waiting":
                return
            graph = await self._graph(execution)
            execution.succeed_node(node_id, run.attempts, {"main": run.input or []})
            execution.resume(node_id)
            messages = await self._advance(execution, graph)
            await self._commit(execution, messages)

    async def cancel(self, execution_id: str, reason: str) -> dict[str, Any]:
        logs.execution_id.set(execution_id)
        async with self._lock(execution_id):
            execution = await self._load(execution_id)
            if execution.finished:
                raise Conflict(f"execution {execution_id} already {execution.status}")
            in_flight = execution.in_flight()
            execution.cancel(reason)
            messages: list[Message] = [CancelNodeTasks(execution_id=execution_id)] if in_flight else []
            await self._commit(execution, messages)
        return {"execution_id": execution_id, "status": execution.status}

    async def expire(self, execution_id: str) -> None:
        """The execution's deadline passed: fail it and stop its running tasks."""
        async with self._lock(execution_id):
            execution = await self._load(execution_id)
            if execution.finished or execution.deadline is None:
                return
            seconds = (execution.deadline - execution.started_at).total_seconds()
            execution.fail(f"the execution timed out after {seconds:g} s (workflow settings.timeout_seconds)", None)
            await self._commit(execution, [CancelNodeTasks(execution_id=execution_id)])

    # -- the decision loop -------------------------------------------------------------------------------

    async def _advance(self, execution: Execution, graph: WorkflowGraph) -> list[Message]:
        """Apply the scheduling core until nothing more can happen without the outside world."""
        messages: list[Message] = []
        while not execution.finished:
            decision = decide(graph, execution.nodes, execution.trigger, execution.input_overrides)
            if decision.empty:
                break
            if decision.skip:
                execution.skip_nodes(decision.skip)
            for node_id, items in decision.ready:
                spec = graph.nodes[node_id]
                pure = self._pure.get(spec.type)
                if spec.type == "wait":
                    execution.schedule_node(node_id, 1, items)
                    self._pause(execution, graph, node_id, items)
                elif pure is not None:
                    execution.schedule_node(node_id, 1, items)
                    await self._evaluate(execution, graph, node_id, pure, items)
                else:
                    execution.schedule_node(node_id, 1, items, dispatch=True)
                    messages.append(self._task(execution, graph, node_id))
                if execution.finished:
                    break
        if not execution.finished and all_settled(execution.nodes):
            execution.succeed(final_output(graph, execution.nodes, execution.finish_order))
        return messages

    def _context(self, execution: Execution, node_id: str, attempt: int) -> NodeContext:
        return NodeContext(
            execution_id=str(execution.id),
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            node_id=node_id,
            attempt=attempt,
            trigger=execution.trigger,
            node_outputs={n: run.output for n, run in execution.nodes.items() if run.status == "succeeded"},
            request=execution.trigger_meta.get("request"),
        )

    async def _evaluate(
        self, execution: Execution, graph: WorkflowGraph, node_id: str, node: NodeType[Any], items: Items
    ) -> None:
        spec = graph.nodes[node_id]
        try:
            result = await execute_node(node, spec.params, self._context(execution, node_id, 1), items)
        except NodeError as exc:
            self._node_failed(execution, graph, node_id, 1, exc.message, exc.code)
            return
        execution.succeed_node(node_id, 1, result.ports)

    def _pause(self, execution: Execution, graph: WorkflowGraph, node_id: str, items: Items) -> None:
        wait_type = type(self._pure["wait"])
        try:
            params: Any = resolve_params(
                wait_type, graph.nodes[node_id].params, self._context(execution, node_id, 1), items
            )
        except NodeError as exc:
            self._node_failed(execution, graph, node_id, 1, exc.message, exc.code)
            return
        if params.until is not None:
            resume_at = params.until
        else:
            resume_at = self._clock() + timedelta(seconds=float(params.seconds or 0))
        execution.pause(node_id, resume_at)

    def _task(self, execution: Execution, graph: WorkflowGraph, node_id: str) -> RunNodeTask:
        spec = graph.nodes[node_id]
        run = execution.nodes[node_id]
        referenced = json.dumps(spec.params)
        outputs = {
            other: other_run.output
            for other, other_run in execution.nodes.items()
            if other_run.status == "succeeded" and (f'"{other}' in referenced or f"'{other}" in referenced)
        }
        return RunNodeTask(
            execution_id=str(execution.id),
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            node_id=node_id,
            node_type=spec.type,
            params=spec.params,
            items=run.input or [],
            attempt=run.attempts,
            trigger=execution.trigger,
            node_outputs=outputs,
            timeout_seconds=spec.timeout_seconds,
            request=execution.trigger_meta.get("request"),
        )

    async def _commit(self, execution: Execution, messages: list[Message]) -> None:
        """Save the decision, then hand its messages to the outbox and arm its timers."""
        execution_id = str(execution.id)
        try:
            await self._writer.save(execution)
        except Exception:
            # the cached aggregate now holds events the log does not: forget it, the log is the truth
            self._live.pop(execution_id, None)
            self._finished.pop(execution_id, None)
            raise
        if execution.finished:
            self._metrics.executions_finished.labels(execution.status).inc()
            self._timers.cancel_all(execution_id)
            self._retire(execution_id, execution)
            messages.append(
                msg.ExecutionFinished(
                    workflow_id=execution.workflow_id,
                    execution_id=execution_id,
                    workflow_version=execution.workflow_version,
                    status=execution.status,
                    error=execution.error,
                )
            )
        else:
            self._arm_timers(execution)
        self._outbox.put(messages)

    def _arm_timers(self, execution: Execution) -> None:
        execution_id = str(execution.id)
        for node_id, run in execution.nodes.items():
            if run.status == "waiting" and run.resume_at is not None:
                self._timers.arm(
                    (execution_id, f"wake:{node_id}"), run.resume_at, partial(self.wake, execution_id, node_id)
                )
            elif run.status == "retrying" and run.retry_at is not None:
                self._timers.arm(
                    (execution_id, f"retry:{node_id}"), run.retry_at, partial(self.retry_node, execution_id, node_id)
                )
        if execution.deadline is not None:
            self._timers.arm((execution_id, "deadline"), execution.deadline, partial(self.expire, execution_id))

    # -- memory and recovery -----------------------------------------------------------------------------

    def _lock(self, execution_id: str) -> asyncio.Lock:
        return self._locks.setdefault(execution_id, asyncio.Lock())

    async def _graph(self, execution: Execution) -> WorkflowGraph:
        return await self._workflows.graph(execution.workflow_id, execution.workflow_version)

    def _retire(self, execution_id: str, execution: Execution) -> None:
        self._live.pop(execution_id, None)
        self._locks.pop(execution_id, None)
        self._finished[execution_id] = execution
        while len(self._finished) > FINISHED_CACHE:
            self._finished.popitem(last=False)

    async def _load(self, execution_id: str) -> Execution:
        cached = self._live.get(execution_id) or self._finished.get(execution_id)
        if cached is not None:
            return cached
        try:
            execution: Execution = await asyncio.to_thread(
                self._store.repository.get, parse_id(execution_id, "execution")
            )
        except AggregateNotFoundError:
            raise NotFound(f"execution {execution_id} does not exist") from None
        if not execution.finished:
            self._live[execution_id] = execution
        return execution

    async def recover(self) -> int:
        """Continue unfinished executions from their logs: re-arm timers and re-dispatch in-flight tasks
        with their original attempt (so the same idempotency key), then send finish notices not yet sent."""
        recovered = 0
        for execution_id in await self._projections.unfinished_executions():
            async with self._lock(execution_id):
                execution = await self._load(execution_id)
                if execution.finished:
                    continue
                graph = await self._graph(execution)
                messages: list[Message] = [self._task(execution, graph, node_id) for node_id in execution.in_flight()]
                messages += await self._advance(execution, graph)
                await self._commit(execution, messages)
                recovered += 1
        notices: list[Message] = []
        for execution_id in await self._projections.pending_notices():
            execution = await self._load(execution_id)
            notices.append(
                msg.ExecutionFinished(
                    workflow_id=execution.workflow_id,
                    execution_id=execution_id,
                    workflow_version=execution.workflow_version,
                    status=execution.status,
                    error=execution.error,
                )
            )
        self._outbox.put(list(notices))
        return recovered

    async def sweep(self) -> int:
        """Dispatch again tasks whose outcome is overdue (a lost message, a worker gone for good)."""
        now = self._clock()
        redispatched = 0
        for execution_id, execution in list(self._live.items()):
            messages: list[Message] = []
            graph = await self._graph(execution)
            for node_id in execution.in_flight():
                run = execution.nodes[node_id]
                timeout = graph.nodes[node_id].timeout_seconds or DEFAULT_TASK_TIMEOUT
                if run.scheduled_at and now - run.scheduled_at > timedelta(seconds=timeout + LEASE_GRACE_SECONDS):
                    messages.append(self._task(execution, graph, node_id))
            if messages:
                log.warning("re-dispatching %d overdue task(s) of execution %s", len(messages), execution_id)
                self._outbox.put(messages)
                redispatched += len(messages)
        return redispatched

    def stop(self) -> None:
        self._timers.stop()

    # -- queries -----------------------------------------------------------------------------------------

    async def get(self, execution_id: str, at: int | None) -> dict[str, Any]:
        if at is not None:
            try:
                past: Execution = await asyncio.to_thread(
                    self._store.repository.get, parse_id(execution_id, "execution"), version=at
                )
            except AggregateNotFoundError:
                raise NotFound(f"execution {execution_id} does not exist") from None
            if past.version < at:
                raise NotFound(f"execution {execution_id} has {past.version} events; there is no event {at}")
            return execution_view(past)
        await self._writer.projected()
        children = await self._projections.children_of(execution_id)
        deciding = self._locks.get(execution_id)
        if deciding is not None and deciding.locked():
            # a decision is being saved: answer with what the log holds, not with what it may never hold
            async with deciding:
                pass
        # no await between here and the view (a cached run loads at once): no decision can interleave
        execution = await self._load(execution_id)
        return execution_view(execution, children=children)

    async def events(self, execution_id: str, after: int) -> dict[str, Any]:
        events = await asyncio.to_thread(
            lambda: list(self._store.events.get(parse_id(execution_id, "execution"), gt=after or None))
        )
        if not events and after == 0:
            raise NotFound(f"execution {execution_id} does not exist")
        return {"items": [event_view(event) for event in events]}

    async def replay_check(self, query: msg.ReplayCheck) -> dict[str, Any]:
        workflow = await self._workflows.load(query.workflow_id)
        if not 1 <= query.version <= workflow.latest_version:
            raise NotFound(f"workflow {query.workflow_id} has no version {query.version}")
        graph = await self._workflows.graph(query.workflow_id, query.version, workflow)
        await self._writer.projected()
        ids = await self._projections.finished_executions(query.workflow_id, query.since, query.limit)
        differing = []
        for execution_id in ids:
            recorded = await self._load(execution_id)
            found = differences(recorded, await redrive(graph, recorded, self._pure))
            if found:
                differing.append(
                    {"execution_id": execution_id, "recorded_version": recorded.workflow_version, "differences": found}
                )
        return {
            "workflow_id": query.workflow_id,
            "version": query.version,
            "checked": len(ids),
            "differing": len(differing),
            "executions": differing,
        }

    async def summaries(self, query: msg.ListExecutions) -> dict[str, Any]:
        await self._writer.projected()
        return await self._projections.list_executions(
            workflow_id=query.workflow_id, status=query.status, limit=query.limit, cursor=query.cursor
        )
