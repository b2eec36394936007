"""The one place that decides: an execution's state, its workflow version and one thing that happened, in;
the new events (recorded on the aggregate) and the commands to send, out.

Everything that moves a run forward goes through :func:`decide`: the engine's command handlers, resuming after a
crash, and the replay check, which re-drives a workflow version over a recorded log. So they cannot disagree.
It does no I/O and reads no clock: the time, the jitter of retry backoffs and the node types the engine may
evaluate inline arrive in :class:`Circumstances`. Pure nodes are evaluated here, synchronously (they never
await), at most :attr:`Circumstances.budget` of them per decision, so one long chain cannot hold the event loop;
``Decision.more`` then asks the caller to decide again with :class:`Continue`.

Flow control is decided here too: a node's ``on_error``, ``loop`` batches, ``execute_workflow`` (the child run
is started by the caller and its outcome comes back as :class:`ChildFinished`), waits for a call
(:class:`ResumeCalled`), and ``static_data`` (carried out by the engine beside the decision, its outcome coming
back as a :class:`TaskCompleted` like a connector's).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid5

from flowtape.common.errors import Conflict, NodeError, NotFound, OutputTooLarge, WorkflowStopped
from flowtape.common.limits import DEFAULT_LIMITS, Limits, check_output
from flowtape.common.nodes.builtin import DEFAULT_CALL_TIMEOUT_SECONDS
from flowtape.common.nodes.sdk import NodeContext, NodeType, execute_node, resolve_params
from flowtape.common.workflow import ERROR_PORT, NodeSpec, RetryPolicy
from flowtape.engine.domain import breakpoints
from flowtape.engine.domain.breakpoints import DebugInputEdited, DebugReleased
from flowtape.engine.domain.execution import Execution, Items, NodeRun
from flowtape.engine.domain.graph import LOOP, LOOP_PORT, WorkflowGraph
from flowtape.engine.domain.scheduling import all_settled, body_settled, final_output, ready_nodes

#: inline node evaluations in one decision before it hands back (``Decision.more``)
DEFAULT_BUDGET = 64
#: how a node without a retry policy is retried when the remote side said "too many requests, retry after"
RATE_LIMITED_RETRY = RetryPolicy(max_attempts=5, backoff_seconds=1.0, retry_on=["rate_limited"])
#: how deep execute_workflow calls may nest by default (a workflow calling itself stops there)
DEFAULT_MAX_CALL_DEPTH = 10
#: node types the decider dispatches but the engine carries out itself (not the connectors)
EXECUTE_WORKFLOW = "execute_workflow"
STATIC_DATA = "static_data"
ENGINE_TASKS = frozenset({EXECUTE_WORKFLOW, STATIC_DATA})
#: the namespace of child execution ids: derived from the caller, node, run and attempt, so a call sent again
#: names the same child
_CHILD_IDS = UUID("0c8b1f3e-5a2d-4f6b-9e1a-7d3c2b1a0f9e")


# --- what can happen to an execution -----------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """A new execution (started, or forked from another) was just created: run what can run."""


@dataclass(frozen=True)
class Continue:
    """The previous decision stopped at its budget; go on from the recorded state."""


@dataclass(frozen=True)
class TaskCompleted:
    """The connectors (or the engine, for ``static_data``) report one attempt of a dispatched node."""

    node_id: str
    attempt: int
    started_at: datetime
    succeeded: bool
    ports: dict[str, Items] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    #: the remote side's "retry after" (an HTTP 429), in seconds: the next attempt comes no sooner
    retry_after: float | None = None
    #: the node's run the attempt belongs to (a node inside a loop body runs once per batch)
    run: int = 1


@dataclass(frozen=True)
class ChildFinished:
    """The execution an execute_workflow node started finished."""

    node_id: str
    child_execution_id: str
    started_at: datetime
    succeeded: bool
    output: Items = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class ResumeCalled:
    """The resume URL of a wait for a call was called, with ``body`` (any JSON)."""

    node_id: str
    run: int
    body: Any = None


@dataclass(frozen=True)
class TimerFired:
    """A recorded moment came: a wait's resume time, a retry's backoff, or the execution's deadline."""

    kind: Literal["wake", "retry", "deadline"]
    node_id: str | None = None
    #: the node's run the timer was armed for (a node inside a loop body waits or retries once per batch)
    run: int | None = None


@dataclass(frozen=True)
class Admitted:
    """A queued run may begin: its workflow has room for it, or starts were resumed."""


@dataclass(frozen=True)
class CancelRequested:
    reason: str


Happened = (
    Started
    | Continue
    | TaskCompleted
    | TimerFired
    | CancelRequested
    | ChildFinished
    | ResumeCalled
    | DebugInputEdited
    | DebugReleased
    | Admitted
)


def child_execution_id(execution_id: str, node_id: str, run: int, attempt: int) -> str:
    """The id of the execution one attempt of an execute_workflow node starts (the same each time it is sent)."""
    return str(uuid5(_CHILD_IDS, f"{execution_id}:{node_id}:{run}:{attempt}"))


#: the resume URL of a wait for a call, from the execution id, node id and run (see ``ResumeTokens``)
ResumeUrl = Callable[[str, str, int], str]


@dataclass(frozen=True)
class Circumstances:
    """What a decision may know besides the log: the time, chance, and which node types run inline."""

    now: datetime
    inline: Mapping[str, NodeType[Any]]
    #: in [0, 1): the random half of a retry's backoff (recorded in the event, so replays agree)
    jitter: float = 0.5
    limits: Limits = DEFAULT_LIMITS
    budget: int = DEFAULT_BUDGET
    #: node types at versions other than the one in ``inline``, by (type, version)
    older: Mapping[tuple[str, int], NodeType[Any]] = field(default_factory=dict)
    max_call_depth: int = DEFAULT_MAX_CALL_DEPTH
    #: where the resume URLs of waits for a call are shown (None: not shown, e.g. in a replay check)
    resume_url: ResumeUrl | None = None
    #: workflows whose runs are paused (the kill switch; ``*``: all): their runs are held at this decision
    paused: frozenset[str] = frozenset()

    def node(self, spec: NodeSpec) -> NodeType[Any] | None:
        """The inline node type ``spec`` names, at the version it was saved with; None when it is not inline."""
        latest = self.inline.get(spec.type)
        if latest is None or type(latest).version == spec.version or (spec.version is None and not self.older):
            return latest
        if spec.version is None:  # saved before versions were recorded: the earliest version ran then
            earlier = sorted(version for node_type, version in self.older if node_type == spec.type)
            return self.older[(spec.type, earlier[0])] if earlier else latest
        return self.older.get((spec.type, spec.version))


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
    #: executions started by this one's execute_workflow nodes that are to stop (this one stopped)
    cancel_children: list[str] = field(default_factory=list)


# --- the decider -------------------------------------------------------------------------------------------


def decide(execution: Execution, graph: WorkflowGraph, happened: Happened, now: Circumstances) -> Decision:
    """Apply ``happened`` to ``execution`` (recording events on it) and run what can run without the world."""
    decision = Decision()
    if isinstance(happened, CancelRequested):
        if execution.finished:
            raise Conflict(f"execution {execution.id} already {execution.status}")
        decision.cancel_tasks = bool(execution.in_flight())
        decision.cancel_children = running_children(execution)
        execution.cancel(happened.reason)
        return decision
    if isinstance(happened, ResumeCalled):
        _check_call(execution, happened)
    if isinstance(happened, DebugInputEdited | DebugReleased):
        breakpoints.paused_at(execution)
    if execution.finished:
        decision.ignored = True
        return decision
    if isinstance(happened, TaskCompleted):
        if not _task_completed(execution, graph, happened, now):
            decision.ignored = True
            return decision
    elif isinstance(happened, ChildFinished):
        if not _child_finished(execution, graph, happened, now):
            decision.ignored = True
            return decision
    elif isinstance(happened, ResumeCalled):
        _resume_called(execution, happened)
    elif isinstance(happened, DebugInputEdited):
        breakpoints.edit_input(execution, happened)
        return decision
    elif isinstance(happened, DebugReleased):
        breakpoints.release(execution, happened)
    elif isinstance(happened, Admitted):
        if not execution.queued:
            decision.ignored = True
            return decision
        execution.admit()
    elif isinstance(happened, TimerFired):
        if happened.kind == "deadline":
            return _deadline_passed(execution, graph, decision)
        if not _timer_fired(execution, graph, happened, now, decision):
            decision.ignored = True
            return decision
    _advance(execution, graph, now, decision)
    if execution.finished:
        decision.cancel_children = running_children(execution)
    return decision


def running_children(execution: Execution) -> list[str]:
    """Executions this one started that have not reported back: to stop when this one stops."""
    return [
        run.child
        for run in execution.nodes.values()
        if run.child is not None and run.status in ("scheduled", "running", "retrying")
    ]


def _task_completed(execution: Execution, graph: WorkflowGraph, outcome: TaskCompleted, now: Circumstances) -> bool:
    run = execution.nodes.get(outcome.node_id)
    if (
        run is None
        or run.attempts != outcome.attempt
        or run.runs != outcome.run
        or run.status not in ("scheduled", "running")
    ):
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


def _child_finished(execution: Execution, graph: WorkflowGraph, child: ChildFinished, now: Circumstances) -> bool:
    """The child's outcome is the outcome of the attempt that started it (a child of an earlier attempt or run
    reports in vain)."""
    run = execution.nodes.get(child.node_id)
    if run is None or run.child != child.child_execution_id:
        return False
    outcome = TaskCompleted(
        node_id=child.node_id,
        attempt=run.attempts,
        started_at=child.started_at,
        succeeded=child.succeeded,
        ports={"main": list(child.output)},
        error=None if child.succeeded else f"workflow run {child.child_execution_id} failed: {child.error}",
        error_code=None if child.succeeded else "child_failed",
        run=run.runs,
    )
    return _task_completed(execution, graph, outcome, now)


def _check_call(execution: Execution, call: ResumeCalled) -> None:
    """A resume URL serves once, while its node waits: otherwise say why it does not (the caller answers 409)."""
    run = execution.nodes.get(call.node_id)
    if run is None or call.run > run.runs:
        raise NotFound("this resume URL does not exist")
    if run.runs != call.run or run.call == "received":
        raise Conflict("this resume URL was used already: it resumes its wait once")
    if run.call == "expired":
        raise Conflict("this resume URL expired: its wait timed out")
    if execution.finished:
        raise Conflict(f"this resume URL's execution is {execution.status}")
    if run.call is None:
        raise Conflict("this resume URL's wait has not begun yet")


def _resume_called(execution: Execution, call: ResumeCalled) -> None:
    run = execution.nodes[call.node_id]
    execution.receive_call(call.node_id, call.body)
    items = [{**item, "resume": call.body} for item in run.input or []]
    execution.succeed_node(call.node_id, run.attempts, {"main": items})
    execution.resume(call.node_id)


def _timer_fired(
    execution: Execution, graph: WorkflowGraph, timer: TimerFired, now: Circumstances, decision: Decision
) -> bool:
    run = execution.nodes.get(timer.node_id or "")
    if run is None or timer.node_id is None or (timer.run is not None and timer.run != run.runs):
        return False
    if timer.kind == "retry":
        if run.status != "retrying":
            return False
        _dispatch(execution, graph, timer.node_id, run.attempts + 1, run.input or [], now, decision)
        return True
    if run.status != "waiting":
        return False
    if run.call == "awaited":
        execution.resume(timer.node_id)
        _node_failed(
            execution,
            graph,
            timer.node_id,
            run.attempts,
            "the wait timed out: its resume URL was not called in time",
            "wait_timeout",
            now,
        )
        return True
    execution.succeed_node(timer.node_id, run.attempts, {"main": run.input or []})
    execution.resume(timer.node_id)
    return True


def _deadline_passed(execution: Execution, graph: WorkflowGraph, decision: Decision) -> Decision:
    if execution.deadline is None:
        decision.ignored = True
        return decision
    seconds = float(graph.definition.settings.get("timeout_seconds") or 0)
    decision.cancel_children = running_children(execution)
    execution.fail(f"the execution timed out after {seconds:g} s (workflow settings.timeout_seconds)", None)
    decision.cancel_tasks = True
    return decision


def _advance(execution: Execution, graph: WorkflowGraph, now: Circumstances, decision: Decision) -> None:
    """Run the scheduling core until nothing more can happen without the outside world (or the budget ends)."""
    if execution.queued or _held(execution, now):
        return
    evaluated = 0
    while not execution.finished and execution.breakpoint is None:
        step = ready_nodes(graph, execution.nodes, execution.trigger, execution.input_overrides)
        if step.empty:
            if evaluated >= now.budget and _loop_ready(execution, graph) is not None:
                decision.more = True
                return
            if not _next_batch(execution, graph):
                break
            evaluated += 1
            continue
        if step.skip:
            execution.skip_nodes(step.skip)
        for node_id, items in step.ready:
            if execution.debug is not None and (
                reason := breakpoints.stop_before(execution, node_id, items, context(execution, node_id, 1, now, graph))
            ):
                execution.reach_breakpoint(node_id, execution.nodes[node_id].runs, reason, items)
                return
            spec = graph.nodes[node_id]
            inline = now.node(spec)
            if spec.type == "wait":
                execution.schedule_node(node_id, 1, items)
                _pause(execution, graph, node_id, items, now)
            elif spec.type in ENGINE_TASKS:
                _dispatch(execution, graph, node_id, 1, items, now, decision)
            elif inline is not None:
                if evaluated >= now.budget:
                    decision.more = True
                    return
                if spec.type == LOOP:
                    _start_loop(execution, graph, node_id, inline, items, now)
                else:
                    _evaluate(execution, graph, node_id, inline, items, now)
                evaluated += 1
            else:
                _dispatch(execution, graph, node_id, 1, items, now, decision)
            if execution.finished:
                return
    if not execution.finished and execution.breakpoint is None and all_settled(execution.nodes):
        execution.succeed(final_output(graph, execution.nodes, execution.finish_order))


def _held(execution: Execution, now: Circumstances) -> bool:
    """A pause of runs holds the run here (recorded once); a lifted one releases it."""
    paused = "*" in now.paused or execution.workflow_id in now.paused
    if paused and not execution.held:
        execution.hold()
    elif not paused and execution.held:
        execution.release()
    return paused


def _dispatch(
    execution: Execution,
    graph: WorkflowGraph,
    node_id: str,
    attempt: int,
    items: Items,
    now: Circumstances,
    decision: Decision,
) -> None:
    """Hand one attempt to whoever carries it out: an execute_workflow node also records the child it starts."""
    execution.schedule_node(node_id, attempt, items, dispatch=True)
    if graph.nodes[node_id].type == EXECUTE_WORKFLOW and not _call(execution, graph, node_id, attempt, items, now):
        return
    decision.dispatch.append(node_id)


def _call(
    execution: Execution, graph: WorkflowGraph, node_id: str, attempt: int, items: Items, now: Circumstances
) -> bool:
    """Record the child run an attempt of an execute_workflow node starts; False when it cannot (the node failed)."""
    spec = graph.nodes[node_id]
    node = now.node(spec)
    failure: tuple[str, str] | None = None
    params: Any = None
    if node is None:
        failure = ("execute_workflow is not available to this engine", "node_error")
    elif execution.call_depth + 1 > now.max_call_depth:
        failure = (
            f"execute_workflow would nest workflow runs {execution.call_depth + 1} deep, more than the "
            f"{now.max_call_depth} allowed (FLOWTAPE_MAX_CALL_DEPTH): does a workflow call itself?",
            "call_depth",
        )
    else:
        try:
            params = resolve_params(type(node), spec.params, context(execution, node_id, attempt, now, graph), items)
        except NodeError as exc:
            failure = (exc.message, exc.code)
    if failure is not None:
        execution.start_node(node_id, attempt, now.now)
        _node_failed(execution, graph, node_id, attempt, failure[0], failure[1], now)
        return False
    run = execution.nodes[node_id]
    child = child_execution_id(str(execution.id), node_id, run.runs, attempt)
    execution.call_workflow(node_id, attempt, child, params.workflow_id, params.version)
    return True


def _start_loop(
    execution: Execution, graph: WorkflowGraph, node_id: str, node: NodeType[Any], items: Items, now: Circumstances
) -> None:
    """A loop node got its items: record them once and send the first batch to its body."""
    try:
        params: Any = resolve_params(
            type(node), graph.nodes[node_id].params, context(execution, node_id, 1, now, graph), items
        )
    except NodeError as exc:
        execution.schedule_node(node_id, 1, items)
        _node_failed(execution, graph, node_id, 1, exc.message, exc.code, now)
        return
    body = list(graph.bodies[node_id])
    if node_id in execution.input_overrides:
        execution.start_loop(node_id, None, items, params.batch_size, body)
    else:
        sources = [[edge.from_, edge.port] for edge in graph.incoming[node_id]]
        execution.start_loop(node_id, sources, None, params.batch_size, body)


def _loop_ready(execution: Execution, graph: WorkflowGraph) -> str | None:
    """A loop whose body finished its batch (inner loops first: an outer body holds its inner loops)."""
    for loop in reversed(graph.order):
        if loop in graph.bodies and execution.nodes[loop].status == "running":
            if body_settled(graph, execution.nodes, loop):
                return loop
    return None


def _next_batch(execution: Execution, graph: WorkflowGraph) -> bool:
    """Collect what the body of a loop sent back for its batch, then send the next batch or finish the loop."""
    loop = _loop_ready(execution, graph)
    if loop is None:
        return False
    run = execution.nodes[loop]
    backs = graph.loop_backs[loop]
    collect = [[edge.from_, edge.port] for edge in backs] if backs else [[loop, LOOP_PORT]]
    iteration = run.iteration or 1
    if run.loop is not None and iteration < run.loop.iterations:
        execution.iterate_loop(loop, iteration + 1, collect, list(graph.bodies[loop]))
    else:
        execution.finish_loop(loop, collect)
    return True


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
        result = _run_sync(execute_node(node, spec.params, context(execution, node_id, 1, now, graph), items))
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
    wait_type = type(now.node(graph.nodes[node_id]) or now.inline["wait"])
    try:
        params: Any = resolve_params(
            wait_type, graph.nodes[node_id].params, context(execution, node_id, 1, now, graph), items
        )
    except NodeError as exc:
        _node_failed(execution, graph, node_id, 1, exc.message, exc.code, now)
        return
    if getattr(params, "resume", "time") == "webhook":
        timeout = float(params.timeout_seconds or DEFAULT_CALL_TIMEOUT_SECONDS)
        execution.pause(node_id, now.now + timedelta(seconds=timeout))
        execution.await_call(node_id)
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
    """Record the failure; retry when the node's policy allows (no sooner than a remote "retry after", an HTTP
    429, asks: by a default policy when the node has none), else let its ``on_error`` decide: fail the execution
    (the default), or turn the error into items on ``main`` (``continue``) or ``error``."""
    execution.fail_node(node_id, attempt, error, code or "")
    spec = graph.nodes[node_id]
    policy = spec.retry
    if policy is None and retry_after is not None:
        policy = RATE_LIMITED_RETRY
    retryable = policy is not None and (policy.retry_on is None or (code or "") in policy.retry_on)
    # another attempt of an inline node fails the same way (not so a call of another workflow)
    deterministic = spec.type in now.inline and spec.type not in ENGINE_TASKS
    if policy is not None and retryable and attempt < policy.max_attempts and not deterministic:
        delay = max(backoff(policy, attempt, now.jitter), retry_after or 0.0)
        retry_at = now.now + timedelta(seconds=delay)
        execution.schedule_retry(node_id, attempt, retry_at)
        return
    if spec.error_handling != "fail":
        carried = _carrying_error(execution.nodes[node_id].input or [], node_id, error, code, attempt)
        port = ERROR_PORT if spec.error_handling == "error_port" else "main"
        execution.catch_error(node_id, attempt, {port: carried})
        return
    if code == WorkflowStopped.code:
        execution.fail(error, node_id)
        return
    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
    execution.fail(f"node {node_id} failed{suffix}: {error}", node_id)


def _carrying_error(items: Items, node_id: str, error: str, code: str | None, attempts: int) -> Items:
    """The node's input items, each with an ``error`` object saying what went wrong (one such item when the
    node had no input)."""
    info = {"message": error, "code": code or "node_error", "node": node_id, "attempts": attempts}
    return [{**item, "error": info} for item in items] or [{"error": info}]


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


def resume_urls(execution: Execution, graph: WorkflowGraph, resume_url: ResumeUrl | None) -> dict[str, str]:
    """The resume URL of each wait-for-call node of the graph, for its current (or next) run."""
    if resume_url is None or not graph.resumable_waits:
        return {}
    return {
        node_id: resume_url(str(execution.id), node_id, execution.nodes[node_id].runs)
        for node_id in graph.resumable_waits
    }


def context(
    execution: Execution,
    node_id: str,
    attempt: int,
    now: Circumstances | None = None,
    graph: WorkflowGraph | None = None,
) -> NodeContext:
    limits = now.limits if now is not None else DEFAULT_LIMITS
    links = resume_urls(execution, graph, now.resume_url) if now is not None and graph is not None else {}
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
        run=execution.nodes[node_id].runs if node_id in execution.nodes else 1,
        resume_urls=links,
        variables=execution.trigger_meta.get("variables") or {},
    )


def _run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (a pure node's) to its result, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a node evaluated inline awaited something: inline nodes must not do I/O")
