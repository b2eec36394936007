"""The one place that decides: an execution's state, its workflow version and one thing that happened, in;
the new events (recorded on the aggregate) and the commands to send, out.

Everything that moves a run forward goes through :func:`decide`: the engine's command handlers, resuming after a
crash, and the replay check, which re-drives a workflow version over a recorded log. So they cannot disagree.
It does no I/O and reads no clock: the time, the jitter of retry backoffs and the node types the engine may
evaluate inline arrive in :class:`Circumstances`. Pure nodes are evaluated here, synchronously (they never
await), at most :attr:`Circumstances.budget` of them per decision, so one long chain cannot hold the event loop;
``Decision.more`` then asks the caller to decide again with :class:`Continue`.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from flowtape.common.errors import Conflict, NodeError, OutputTooLarge
from flowtape.common.limits import DEFAULT_LIMITS, Limits, check_output
from flowtape.common.nodes.sdk import NodeContext, NodeType, execute_node, resolve_params
from flowtape.common.workflow import RetryPolicy
from flowtape.engine.domain.execution import Execution, Items, NodeRun
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.scheduling import all_settled, final_output, ready_nodes

#: inline node evaluations in one decision before it hands back (``Decision.more``)
DEFAULT_BUDGET = 64
#: how a node without a retry policy is retried when the remote side said "too many requests, retry after"
RATE_LIMITED_RETRY = RetryPolicy(max_attempts=5, backoff_seconds=1.0, retry_on=["rate_limited"])


# --- what can happen to an execution -----------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """A new execution (started, or forked from another) was just created: run what can run."""


@dataclass(frozen=True)
class Continue:
    """The previous decision stopped at its budget; go on from the recorded state."""


@dataclass(frozen=True)
class TaskCompleted:
    """The connectors report one attempt of a dispatched node."""

    node_id: str
    attempt: int
    started_at: datetime
    succeeded: bool
    ports: dict[str, Items] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    #: the remote side's "retry after" (an HTTP 429), in seconds: the next attempt comes no sooner
    retry_after: float | None = None


@dataclass(frozen=True)
class TimerFired:
    """A recorded moment came: a wait's resume time, a retry's backoff, or the execution's deadline."""

    kind: Literal["wake", "retry", "deadline"]
    node_id: str | None = None


@dataclass(frozen=True)
class CancelRequested:
    reason: str


Happened = Started | Continue | TaskCompleted | TimerFired | CancelRequested


@dataclass(frozen=True)
class Circumstances:
    """What a decision may know besides the log: the time, chance, and which node types run inline."""

    now: datetime
    inline: Mapping[str, NodeType[Any]]
    #: in [0, 1): the random half of a retry's backoff (recorded in the event, so replays agree)
    jitter: float = 0.5
    limits: Limits = DEFAULT_LIMITS
    budget: int = DEFAULT_BUDGET


@dataclass
class Decision:
    """The commands a decision implies; its events are the aggregate's pending events."""

    #: nodes to hand to the connectors, at the attempt the log now records for them
    dispatch: list[str] = field(default_factory=list)
    #: the execution stopped (cancelled, timed out): stop its running tasks
    cancel_tasks: bool = False
    #: the budget ran out with more to do: decide again with :class:`Continue`
    more: bool = False
    #: the input changed nothing (a late or duplicate task outcome, a timer already served)
    ignored: bool = False


# --- the decider -------------------------------------------------------------------------------------------


def decide(execution: Execution, graph: WorkflowGraph, happened: Happened, now: Circumstances) -> Decision:
    """Apply ``happened`` to ``execution`` (recording events on it) and run what can run without the world."""
    decision = Decision()
    if isinstance(happened, CancelRequested):
        if execution.finished:
            raise Conflict(f"execution {execution.id} already {execution.status}")
        decision.cancel_tasks = bool(execution.in_flight())
        execution.cancel(happened.reason)
        return decision
    if execution.finished:
        decision.ignored = True
        return decision
    if isinstance(happened, TaskCompleted):
        if not _task_completed(execution, graph, happened, now):
            decision.ignored = True
            return decision
    elif isinstance(happened, TimerFired):
        if happened.kind == "deadline":
            return _deadline_passed(execution, graph, decision)
        if not _timer_fired(execution, happened, decision):
            decision.ignored = True
            return decision
    _advance(execution, graph, now, decision)
    return decision


def _task_completed(execution: Execution, graph: WorkflowGraph, outcome: TaskCompleted, now: Circumstances) -> bool:
    run = execution.nodes.get(outcome.node_id)
    if run is None or run.attempts != outcome.attempt or run.status not in ("scheduled", "running"):
        return False
    execution.start_node(outcome.node_id, outcome.attempt, outcome.started_at)
    if outcome.succeeded:
        try:
            check_output(outcome.ports, now.limits, outcome.node_id)
        except OutputTooLarge as exc:  # bounded where it is recorded, whatever the sender checked
            _node_failed(execution, graph, outcome.node_id, outcome.attempt, exc.message, exc.code, now)
            return True
        execution.succeed_node(outcome.node_id, outcome.attempt, outcome.ports)
    else:
        error = outcome.error or "failed"
        _node_failed(
            execution, graph, outcome.node_id, outcome.attempt, error, outcome.error_code, now, outcome.retry_after
        )
    return True


def _timer_fired(execution: Execution, timer: TimerFired, decision: Decision) -> bool:
    run = execution.nodes.get(timer.node_id or "")
    if run is None or timer.node_id is None:
        return False
    if timer.kind == "retry":
        if run.status != "retrying":
            return False
        execution.schedule_node(timer.node_id, run.attempts + 1, run.input or [], dispatch=True)
        decision.dispatch.append(timer.node_id)
        return True
    if run.status != "waiting":
        return False
    execution.succeed_node(timer.node_id, run.attempts, {"main": run.input or []})
    execution.resume(timer.node_id)
    return True


def _deadline_passed(execution: Execution, graph: WorkflowGraph, decision: Decision) -> Decision:
    if execution.deadline is None:
        decision.ignored = True
        return decision
    seconds = float(graph.definition.settings.get("timeout_seconds") or 0)
    execution.fail(f"the execution timed out after {seconds:g} s (workflow settings.timeout_seconds)", None)
    decision.cancel_tasks = True
    return decision


def _advance(execution: Execution, graph: WorkflowGraph, now: Circumstances, decision: Decision) -> None:
    """Run the scheduling core until nothing more can happen without the outside world (or the budget ends)."""
    evaluated = 0
    while not execution.finished:
        step = ready_nodes(graph, execution.nodes, execution.trigger, execution.input_overrides)
        if step.empty:
            break
        if step.skip:
            execution.skip_nodes(step.skip)
        for node_id, items in step.ready:
            node_type = graph.nodes[node_id].type
            inline = now.inline.get(node_type)
            if node_type == "wait":
                execution.schedule_node(node_id, 1, items)
                _pause(execution, graph, node_id, items, now)
            elif inline is not None:
                if evaluated >= now.budget:
                    decision.more = True
                    return
                _evaluate(execution, graph, node_id, inline, items, now)
                evaluated += 1
            else:
                execution.schedule_node(node_id, 1, items, dispatch=True)
                decision.dispatch.append(node_id)
            if execution.finished:
                return
    if not execution.finished and all_settled(execution.nodes):
        execution.succeed(final_output(graph, execution.nodes, execution.finish_order))


def _evaluate(
    execution: Execution,
    graph: WorkflowGraph,
    node_id: str,
    node: NodeType[Any],
    items: Items,
    now: Circumstances,
) -> None:
    spec = graph.nodes[node_id]
    try:
        result = _run_sync(execute_node(node, spec.params, context(execution, node_id, 1, now.limits), items))
    except NodeError as exc:
        execution.schedule_node(node_id, 1, items)
        _node_failed(execution, graph, node_id, 1, exc.message, exc.code, now)
        return
    if node_id in execution.input_overrides:
        execution.evaluate_node(node_id, None, items, result.ports)
    else:
        sources = [[edge.from_, edge.port] for edge in graph.incoming[node_id]]
        execution.evaluate_node(node_id, sources, None, result.ports)


def _pause(execution: Execution, graph: WorkflowGraph, node_id: str, items: Items, now: Circumstances) -> None:
    wait_type = type(now.inline["wait"])
    try:
        params: Any = resolve_params(
            wait_type, graph.nodes[node_id].params, context(execution, node_id, 1, now.limits), items
        )
    except NodeError as exc:
        _node_failed(execution, graph, node_id, 1, exc.message, exc.code, now)
        return
    if params.until is not None:
        resume_at = params.until
    else:
        resume_at = now.now + timedelta(seconds=float(params.seconds or 0))
    execution.pause(node_id, resume_at)


def backoff(policy: RetryPolicy, failed_attempt: int, jitter: float) -> float:
    """Exponential backoff with equal jitter: half the delay is fixed, half random (the result is recorded)."""
    delay = min(policy.max_backoff_seconds, policy.backoff_seconds * 2.0 ** (failed_attempt - 1))
    return float(delay / 2 + jitter * delay / 2)


def _node_failed(
    execution: Execution,
    graph: WorkflowGraph,
    node_id: str,
    attempt: int,
    error: str,
    code: str | None,
    now: Circumstances,
    retry_after: float | None = None,
) -> None:
    """Record the failure; retry when the node's policy allows, else fail the execution. A remote "retry
    after" (HTTP 429) is retried no sooner than it asks, by a default policy when the node has none."""
    execution.fail_node(node_id, attempt, error, code or "")
    spec = graph.nodes[node_id]
    policy = spec.retry
    if policy is None and retry_after is not None:
        policy = RATE_LIMITED_RETRY
    retryable = policy is not None and (policy.retry_on is None or (code or "") in policy.retry_on)
    deterministic = spec.type in now.inline  # another attempt of an inline node fails the same way
    if policy is not None and retryable and attempt < policy.max_attempts and not deterministic:
        delay = max(backoff(policy, attempt, now.jitter), retry_after or 0.0)
        retry_at = now.now + timedelta(seconds=delay)
        execution.schedule_retry(node_id, attempt, retry_at)
        return
    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
    execution.fail(f"node {node_id} failed{suffix}: {error}", node_id)


# --- what a node sees --------------------------------------------------------------------------------------


class _Outputs(Mapping[str, Items]):
    """``nodes["<id>"].output`` of every succeeded node, read on demand (not copied for every node evaluated)."""

    def __init__(self, nodes: Mapping[str, NodeRun]) -> None:
        self._nodes = nodes

    def __getitem__(self, node_id: str) -> Items:
        run = self._nodes[node_id]
        if run.status != "succeeded":
            raise KeyError(node_id)
        return run.output

    def __iter__(self) -> Iterator[str]:
        return (node_id for node_id, run in self._nodes.items() if run.status == "succeeded")

    def __len__(self) -> int:
        return sum(1 for _ in self)


def context(execution: Execution, node_id: str, attempt: int, limits: Limits = DEFAULT_LIMITS) -> NodeContext:
    return NodeContext(
        execution_id=str(execution.id),
        workflow_id=execution.workflow_id,
        workflow_version=execution.workflow_version,
        node_id=node_id,
        attempt=attempt,
        trigger=execution.trigger,
        node_outputs=_Outputs(execution.nodes),
        request=execution.trigger_meta.get("request"),
        limits=limits,
    )


def _run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (a pure node's) to its result, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a node evaluated inline awaited something: inline nodes must not do I/O")
