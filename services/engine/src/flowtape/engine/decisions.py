"""The decision unit of work: lock, load, decide, save, then hand the commands to the outbox and arm timers.

Every command that moves a run forward is one call of :meth:`Decisions.apply` (or :meth:`Decisions.begin` for a
new run), so the sequence exists once. What a decision dispatches goes where it is carried out: node tasks to
the connectors, calls of other workflows to the child's partition (:class:`CallWorkflow`), and ``static_data``
nodes to this engine's :class:`StaticDataStore`, whose outcome comes back as a task outcome.

This process decides only the executions it owns (see
:mod:`flowtape.engine.partitions`): their aggregates stay in memory between decisions, and a save that fails
drops the cached aggregate, because it then holds events the log does not.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from flowtape.common import logs, telemetry
from flowtape.common.errors import FlowtapeError, NotFound
from flowtape.common.limits import DEFAULT_LIMITS, Limits
from flowtape.common.messages.base import Message
from flowtape.common.messages.engine import CancelExecution
from flowtape.common.nodes.sdk import NodeContext, NodeType
from flowtape.common.resume_tokens import ResumeTokens
from flowtape.engine.domain.decider import (
    DEFAULT_MAX_CALL_DEPTH,
    STATIC_DATA,
    Circumstances,
    Continue,
    Decision,
    Happened,
    Started,
    TaskCompleted,
    TimerFired,
    context,
    decide,
)
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.integration import cancel_tasks, dispatched, finish_notices
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.outbox import Outbox
from flowtape.engine.static_data import StaticDataStore
from flowtape.engine.store import ExecutionLog, LogWriter
from flowtape.engine.timers import Timers
from flowtape.engine.workflows import Workflows, parse_id

log = logging.getLogger("flowtape.engine")

Clock = Callable[[], datetime]
FINISHED_CACHE = 512


class Decisions:
    def __init__(
        self,
        *,
        store: ExecutionLog,
        writer: LogWriter,
        workflows: Workflows,
        outbox: Outbox,
        clock: Clock,
        inline: dict[str, NodeType[Any]],
        metrics: EngineMetrics | None = None,
        limits: Limits = DEFAULT_LIMITS,
        rand: Callable[[], float] = random.random,
        older: dict[tuple[str, int], NodeType[Any]] | None = None,
        static_data: StaticDataStore | None = None,
        resume_tokens: ResumeTokens | None = None,
        max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
    ) -> None:
        self._older = older or {}
        self._static_data = static_data
        self.resume_tokens = resume_tokens
        self._max_call_depth = max_call_depth
        self._engine_tasks: set[asyncio.Task[Any]] = set()
        self._store = store
        self._writer = writer
        self._workflows = workflows
        self._outbox = outbox
        self._clock = clock
        self._inline = inline
        self._metrics = metrics or EngineMetrics()
        self._limits = limits
        self._rand = rand
        self._timers = Timers(clock)
        self._live: dict[str, Execution] = {}
        self._finished: OrderedDict[str, Execution] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._continuing: set[asyncio.Task[Any]] = set()
        #: the scopes whose runs are paused (see :mod:`flowtape.engine.pauses`): held at their next decision
        self.paused: frozenset[str] = frozenset()
        #: called with each run this owner saw finish, once its last event is saved
        self.on_finished: list[Callable[[Execution], None]] = []

    # -- deciding ----------------------------------------------------------------------------------------

    async def begin(self, execution: Execution, graph: WorkflowGraph) -> Execution:
        """Save a new execution (started or forked) with its first decision."""
        execution_id = str(execution.id)
        logs.execution_id.set(execution_id)
        self._metrics.executions_started.inc()
        async with self.lock(execution_id):
            self._live[execution_id] = execution
            with self._timed("Started"), self._span(execution, "start", link=self._parent_trace(execution)):
                decision = decide(execution, graph, Started(), self._circumstances())
                # a run that finishes in its first decision is answered by its start's reply (the caller waits
                # for that), so its finish notice need not carry the view every gateway would decode
                await self._commit(execution, graph, decision, answered=True)
        return execution

    async def apply(self, execution_id: str, happened: Happened) -> Execution:
        """Decide what ``happened`` means for a run and record it; returns the run as it now stands."""
        logs.execution_id.set(execution_id)
        async with self.lock(execution_id):
            execution = await self.load(execution_id)
            graph = await self._graph(execution)
            with self._timed(type(happened).__name__), self._span(execution, type(happened).__name__) as span:
                decision = decide(execution, graph, happened, self._circumstances())
                if decision.ignored:
                    span.set_attribute("flowtape.decision.ignored", True)
                    log.info(
                        "ignored %s for execution %s: nothing left to do with it", type(happened).__name__, execution_id
                    )
                    return execution
                await self._commit(execution, graph, decision)
        return execution

    async def resume(self, execution_id: str) -> bool:
        """Continue an unfinished run from its log (after a crash, or on taking over its partition): re-arm its
        timers, dispatch its in-flight tasks again with their recorded attempt (so the same idempotency keys),
        and decide what the log allows. False when it had finished."""
        async with self.lock(execution_id):
            execution = await self.load(execution_id)
            if execution.finished:
                return False
            graph = await self._graph(execution)
            in_flight = execution.in_flight()
            with self._span(execution, "resume") as span:
                span.set_attribute("flowtape.resumed", True)
                decision = decide(execution, graph, Continue(), self._circumstances())
                decision.dispatch[:0] = [node_id for node_id in in_flight if node_id not in decision.dispatch]
                await self._commit(execution, graph, decision)
        return True

    @contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._metrics.decision_seconds.labels(what).observe(time.perf_counter() - started)

    @staticmethod
    def _span(execution: Execution, what: str, link: dict[str, str] | None = None) -> Any:
        """The span of one decision, in the execution's own trace (see :func:`telemetry.span_in`)."""
        return telemetry.span_in(
            f"engine decide {what}",
            execution.trigger_meta.get("trace"),
            link=link,
            attributes={
                "flowtape.execution.id": str(execution.id),
                "flowtape.workflow.id": execution.workflow_id,
                "flowtape.workflow.version": execution.workflow_version,
            },
        )

    @staticmethod
    def _parent_trace(execution: Execution) -> dict[str, str] | None:
        """A fork's parent run's trace context, recorded when it was forked: its first decision links to it."""
        trace = execution.trigger_meta.get("parent_trace")
        return trace if isinstance(trace, dict) else None

    def _circumstances(self) -> Circumstances:
        return Circumstances(
            now=self._clock(),
            inline=self._inline,
            jitter=self._rand(),
            limits=self._limits,
            older=self._older,
            max_call_depth=self._max_call_depth,
            resume_url=self.resume_tokens.url if self.resume_tokens is not None else None,
            paused=self.paused,
        )

    async def _commit(
        self, execution: Execution, graph: WorkflowGraph, decision: Decision, *, answered: bool = False
    ) -> None:
        execution_id = str(execution.id)
        self._trace_inline(execution, graph)
        log.debug(
            "decided execution %s: %d event(s), %d task(s) to dispatch",
            execution_id,
            len(execution.pending_events),
            len(decision.dispatch),
        )
        if execution.pending_events:
            try:
                await self._writer.save(execution)
            except Exception:
                self.forget(execution_id)
                raise
        messages = self._dispatch(execution, graph, decision.dispatch)
        if decision.cancel_tasks:
            messages.append(cancel_tasks(execution))
        for child in decision.cancel_children:
            reason = f"the execution that called it ({execution_id}) is {execution.status}"
            messages.append(CancelExecution(execution_id=child, reason=reason, only_if_running=True))
        if execution.finished:
            self._metrics.executions_finished.labels(execution.status).inc()
            if execution.finished_at is not None:
                duration = (execution.finished_at - execution.started_at).total_seconds()
                self._metrics.execution_seconds.labels(execution.workflow_id, execution.status).observe(duration)
            self._timers.cancel_all(execution_id)
            self._retire(execution_id, execution)
            messages.extend(finish_notices(execution, with_view=not answered))
            for hook in self.on_finished:
                hook(execution)
        else:
            self._arm_timers(execution)
        self._outbox.put(messages)
        if decision.more:
            task = asyncio.create_task(self._continue(execution_id))
            self._continuing.add(task)
            task.add_done_callback(self._continuing.discard)

    def _trace_inline(self, execution: Execution, graph: WorkflowGraph) -> None:
        """One span per node the engine evaluated inline in this decision, so the trace shows every node; and
        the retries the decision scheduled."""
        recording = telemetry.recording()
        for event in execution.pending_events:
            if type(event).__name__ == "NodeRetryScheduled":
                retried = graph.nodes.get(str(getattr(event, "node_id", "")))
                self._metrics.node_retries.labels(retried.type if retried else "unknown").inc()
            if not recording or type(event).__name__ != "NodeEvaluated":
                continue
            node_id = str(getattr(event, "node_id", ""))
            node = graph.nodes.get(node_id)
            attributes: dict[str, str | bool] = {
                "flowtape.node.id": node_id,
                "flowtape.node.type": node.type if node else "",
                "inline": True,
            }
            telemetry.tracer().start_span(f"node {node.type if node else node_id}", attributes=attributes).end()

    def _dispatch(self, execution: Execution, graph: WorkflowGraph, node_ids: list[str]) -> list[Message]:
        """The messages for dispatched nodes; ``static_data`` nodes are carried out here, beside the decision."""
        messages: list[Message] = []
        for node_id in node_ids:
            if graph.nodes[node_id].type == STATIC_DATA:
                run = execution.nodes[node_id]
                # what the node sees is taken now, as the decision left the run (not when the task gets to it)
                ctx = context(execution, node_id, run.attempts, self._circumstances(), graph)
                outputs = {other: r.output for other, r in execution.nodes.items() if r.status == "succeeded"}
                ctx = replace(ctx, node_outputs=outputs)
                work = self._run_static_data(str(execution.id), graph, node_id, ctx, list(run.input or []))
                task = asyncio.create_task(work)
                self._engine_tasks.add(task)
                task.add_done_callback(self._engine_tasks.discard)
            else:
                messages.append(dispatched(execution, graph, node_id, self.resume_tokens))
        return messages

    def redispatch(self, execution: Execution, graph: WorkflowGraph, node_ids: list[str]) -> None:
        """Send again what dispatched nodes were sent (same attempt, so the same idempotency keys)."""
        with self._span(execution, "redispatch"):
            self._outbox.put(self._dispatch(execution, graph, node_ids))

    async def _run_static_data(
        self, execution_id: str, graph: WorkflowGraph, node_id: str, ctx: NodeContext, items: list[dict[str, Any]]
    ) -> None:
        attempt, runs = ctx.attempt, ctx.run
        started = self._clock()
        node = self._inline.get(STATIC_DATA)
        try:
            if node is None or self._static_data is None:
                raise NotFound("static data is not available in this engine")
            result = await self._static_data.run(node, graph.nodes[node_id].params, ctx, items, ctx.idempotency_key)
            outcome = TaskCompleted(node_id, attempt, started, True, ports=result.ports, run=runs)
        except FlowtapeError as exc:
            outcome = TaskCompleted(node_id, attempt, started, False, error=exc.message, error_code=exc.code, run=runs)
        except Exception as exc:
            log.exception("static data node %s of execution %s crashed", node_id, execution_id)
            outcome = TaskCompleted(
                node_id,
                attempt,
                started,
                False,
                error=f"{type(exc).__name__}: {exc}",
                error_code="node_crashed",
                run=runs,
            )
        try:
            await self.apply(execution_id, outcome)
        except Exception:
            log.exception(
                "recording static data node %s of execution %s failed; it runs again on recovery", node_id, execution_id
            )

    async def _continue(self, execution_id: str) -> None:
        try:
            await self.apply(execution_id, Continue())
        except Exception:
            log.exception("continuing execution %s failed; it resumes from its log on recovery", execution_id)

    def _arm_timers(self, execution: Execution) -> None:
        execution_id = str(execution.id)
        for node_id, run in execution.nodes.items():
            if run.status == "waiting" and run.resume_at is not None:
                timer = TimerFired("wake", node_id, run.runs)
                self._arm(execution_id, f"wake:{node_id}#{run.runs}", run.resume_at, timer)
            elif run.status == "retrying" and run.retry_at is not None:
                timer = TimerFired("retry", node_id, run.runs)
                self._arm(execution_id, f"retry:{node_id}#{run.runs}", run.retry_at, timer)
        if execution.deadline is not None:
            self._arm(execution_id, "deadline", execution.deadline, TimerFired("deadline"))

    def _arm(self, execution_id: str, key: str, at: datetime, timer: TimerFired) -> None:
        self._timers.arm((execution_id, key), at, partial(self._fire, execution_id, timer))

    async def _fire(self, execution_id: str, timer: TimerFired) -> None:
        try:
            await self.apply(execution_id, timer)
        except Exception:
            log.exception("a %s timer of execution %s failed; it is armed again on recovery", timer.kind, execution_id)

    # -- memory --------------------------------------------------------------------------------------------

    def lock(self, execution_id: str) -> asyncio.Lock:
        return self._locks.setdefault(execution_id, asyncio.Lock())

    def deciding(self, execution_id: str) -> asyncio.Lock | None:
        """The lock of a decision in progress on this execution, if one is."""
        held = self._locks.get(execution_id)
        return held if held is not None and held.locked() else None

    async def _graph(self, execution: Execution) -> WorkflowGraph:
        return await self._workflows.graph(execution.workflow_id, execution.workflow_version)

    def cached(self, execution_id: str) -> Execution | None:
        return self._live.get(execution_id) or self._finished.get(execution_id)

    async def load(self, execution_id: str) -> Execution:
        """The run as this owner last decided it, or from the log."""
        cached = self.cached(execution_id)
        if cached is not None:
            return cached
        execution = await self.read(execution_id)
        if not execution.finished:
            self._live[execution_id] = execution
        return execution

    async def read(self, execution_id: str, version: int | None = None) -> Execution:
        """The run from the log (at ``version``, the state after that event), bypassing any cache."""
        try:
            execution: Execution = await asyncio.to_thread(
                self._store.repository.get, parse_id(execution_id, "execution"), version=version
            )
        except AggregateNotFoundError:
            raise NotFound(f"execution {execution_id} does not exist") from None
        return execution

    def forget(self, execution_id: str) -> None:
        self._live.pop(execution_id, None)
        self._finished.pop(execution_id, None)

    def forget_all(self, execution_ids: Iterable[str]) -> None:
        """Another replica decides these now: drop what memory holds of them, timers included."""
        for execution_id in execution_ids:
            self.forget(execution_id)
            self._timers.cancel_all(execution_id)

    def live(self) -> dict[str, Execution]:
        return dict(self._live)

    def _retire(self, execution_id: str, execution: Execution) -> None:
        self._live.pop(execution_id, None)
        self._locks.pop(execution_id, None)
        self._finished[execution_id] = execution
        while len(self._finished) > FINISHED_CACHE:
            self._finished.popitem(last=False)

    def notify(self, messages: list[Message]) -> None:
        """Publish messages that record nothing (answers to other executions) through the outbox."""
        self._outbox.put(messages)

    async def stop(self) -> None:
        self._timers.stop()
        for task in [*self._continuing, *self._engine_tasks]:
            task.cancel()
        await asyncio.gather(*self._continuing, *self._engine_tasks, return_exceptions=True)
