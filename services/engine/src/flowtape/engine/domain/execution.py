"""The execution aggregate: an append-only log of what happened in one run, and the state it implies.

Every fact needed to rebuild a run (its exact workflow version, trigger items, each node's input, output,
error and attempt) is in an event, so the state below is only ever derived by applying them. Event classes
are stored by name: never edit one in place; add a ``class_version`` and an upcaster instead.

A node inside a loop body runs once per batch: each new batch resets the body's nodes (``LoopIterated``), so
the state holds the latest run of each node (``NodeRun.runs`` counts them) while the log keeps every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

Items = list[dict[str, Any]]
NodeStatus = Literal["pending", "scheduled", "running", "waiting", "retrying", "succeeded", "failed", "skipped"]
SETTLED: frozenset[str] = frozenset({"succeeded", "failed", "skipped"})
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: the port a loop node feeds its body from (see :mod:`flowtape.engine.domain.graph`)
_LOOP_PORT = "loop"
CallState = Literal["awaited", "received", "expired"]


@dataclass
class LoopProgress:
    """Where a loop node is: its input is cut into batches of ``batch_size``; ``collected`` grows per batch."""

    batch_size: int
    iterations: int
    collected: Items = field(default_factory=list)


@dataclass
class NodeRun:
    status: NodeStatus = "pending"
    attempts: int = 0
    input: Items | None = None
    ports: dict[str, Items] = field(default_factory=dict)
    error: str | None = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resume_at: datetime | None = None
    retry_at: datetime | None = None
    #: sent to the connectors (not evaluated inline by the engine)
    dispatched: bool = False
    #: copied from the parent execution by a fork, not run again
    copied_from: str | None = None
    #: which run of the node this is (a node inside a loop body runs once per batch)
    runs: int = 1
    #: a loop node: the batch it is at; a node of a loop body: the batch of its innermost loop it ran for
    iteration: int | None = None
    loop: LoopProgress | None = None
    #: an execute_workflow node: the execution it started for its current attempt
    child: str | None = None
    #: a wait for a call: whether its resume URL is awaited, was called, or expired
    call: CallState | None = None

    @property
    def output(self) -> Items:
        return [item for items in self.ports.values() for item in items]


class Execution(Aggregate):
    @event("ExecutionStarted")
    def __init__(
        self,
        workflow_id: str,
        workflow_version: int,
        trigger: Items,
        trigger_meta: dict[str, Any],
        node_ids: list[str],
        deadline: datetime | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.workflow_version = workflow_version
        self.trigger = trigger
        self.trigger_meta = trigger_meta
        self.status: str = "running"
        self.nodes: dict[str, NodeRun] = {node_id: NodeRun() for node_id in node_ids}
        self.finish_order: list[str] = []
        self.output: Items = []
        self.error: str | None = None
        self.failed_node: str | None = None
        self.finished_at: datetime | None = None
        self.parent: dict[str, str] | None = None
        self.deadline = deadline
        self.input_overrides: dict[str, Items] = {}
        #: executions started by execute_workflow nodes, in the order they were started
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def begin(
        cls,
        execution_id: UUID | None,
        *,
        workflow_id: str,
        workflow_version: int,
        trigger: Items,
        trigger_meta: dict[str, Any],
        node_ids: list[str],
        deadline: datetime | None,
    ) -> Execution:
        """A new run, with the id its caller chose when there is one (the ``ExecutionStarted`` is the same)."""
        started: dict[str, Any] = {
            "workflow_id": workflow_id,
            "workflow_version": workflow_version,
            "trigger": trigger,
            "trigger_meta": trigger_meta,
            "node_ids": node_ids,
            "deadline": deadline,
        }
        if execution_id is None:
            return cls(**started)
        created: Execution = cls._create(cls.ExecutionStarted, id=execution_id, **started)  # type: ignore[attr-defined]
        return created

    @property
    def started_at(self) -> datetime:
        return self.created_on

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @event("ExecutionForked")
    def fork_from(self, parent_id: str, node_id: str, input_override: Items | None) -> None:
        """A re-run of ``parent_id`` from ``node_id``: nodes that do not depend on it are copied, not re-run."""
        self.parent = {"execution_id": parent_id, "node": node_id}
        if input_override is not None:
            self.input_overrides[node_id] = input_override

    @event("NodeCopied")
    def copy_node(self, node_id: str, status: str, input: Items | None, ports: dict[str, Items]) -> None:
        run = self.nodes[node_id]
        run.status = "succeeded" if status == "succeeded" else "skipped"
        run.attempts = 0
        run.input = input
        run.ports = ports
        run.copied_from = self.parent["execution_id"] if self.parent else None
        if run.status == "succeeded":
            run.started_at = run.finished_at = self.modified_on
            self.finish_order.append(node_id)

    @event("NodeScheduled")
    def schedule_node(self, node_id: str, attempt: int, input: Items, dispatch: bool = False) -> None:
        run = self.nodes[node_id]
        run.status = "scheduled"
        run.attempts = attempt
        run.input = input
        run.error = None
        run.retry_at = None
        run.dispatched = dispatch
        run.scheduled_at = self.modified_on
        run.started_at = None

    @event("NodeEvaluated")
    def evaluate_node(
        self, node_id: str, input_from: list[list[str]] | None, input: Items | None, ports: dict[str, Items]
    ) -> None:
        """A node the engine ran inline, in one event: its input is ``input``, or when that is None the items
        the ``[node, port]`` pairs of ``input_from`` held (the trigger's items when there are none), so the
        log does not hold each chain's items twice."""
        run = self.nodes[node_id]
        run.input = input if input is not None else self._input_from(input_from or [])
        run.status = "succeeded"
        run.attempts = 1
        run.ports = ports
        run.error = None
        run.dispatched = False
        run.scheduled_at = run.started_at = run.finished_at = self.modified_on
        self._finished_node(node_id)

    def _input_from(self, sources: list[list[str]]) -> Items:
        if not sources:
            return list(self.trigger)
        items: Items = []
        for source, port in sources:
            feeding = self.nodes[source]
            # a loop node feeds its body while it runs, one batch at a time
            if feeding.status == "succeeded" or (feeding.loop is not None and port == _LOOP_PORT):
                items.extend(feeding.ports.get(port, []))
        return items

    @event("NodeStarted")
    def start_node(self, node_id: str, attempt: int, started_at: datetime) -> None:
        run = self.nodes[node_id]
        run.status = "running"
        run.started_at = started_at

    @event("NodeSucceeded")
    def succeed_node(self, node_id: str, attempt: int, ports: dict[str, Items]) -> None:
        run = self.nodes[node_id]
        run.status = "succeeded"
        run.ports = ports
        run.started_at = run.started_at or run.scheduled_at
        run.finished_at = self.modified_on
        run.resume_at = None
        self._finished_node(node_id)

    @event("NodeFailed")
    def fail_node(self, node_id: str, attempt: int, error: str, code: str) -> None:
        run = self.nodes[node_id]
        run.status = "failed"
        run.error = error
        if run.call == "awaited":
            run.call = "expired"
        run.started_at = run.started_at or run.scheduled_at
        run.finished_at = self.modified_on
        self._finished_node(node_id)

    def _finished_node(self, node_id: str) -> None:
        if node_id in self.finish_order:
            self.finish_order.remove(node_id)
        self.finish_order.append(node_id)

    @event("NodeErrorCaught")
    def catch_error(self, node_id: str, attempt: int, ports: dict[str, Items]) -> None:
        """The node failed (its ``NodeFailed`` comes first) and its ``on_error`` turns the error into items."""
        run = self.nodes[node_id]
        run.status = "succeeded"
        run.ports = ports
        self._finished_node(node_id)

    @event("NodeRetryScheduled")
    def schedule_retry(self, node_id: str, attempt: int, retry_at: datetime) -> None:
        """``attempt`` failed and will be tried again (as ``attempt + 1``) at ``retry_at``."""
        run = self.nodes[node_id]
        run.status = "retrying"
        run.retry_at = retry_at

    @event("NodesSkipped")
    def skip_nodes(self, node_ids: list[str]) -> None:
        for node_id in node_ids:
            self.nodes[node_id].status = "skipped"

    @event("ExecutionPaused")
    def pause(self, node_id: str, resume_at: datetime) -> None:
        run = self.nodes[node_id]
        run.status = "waiting"
        run.started_at = self.modified_on
        run.resume_at = resume_at
        self.status = "waiting"

    @event("CallAwaited")
    def await_call(self, node_id: str) -> None:
        """The paused node (``ExecutionPaused`` comes first, its ``resume_at`` the timeout) waits for its resume
        URL to be called; the URL is derived from the execution, node and run, never stored."""
        self.nodes[node_id].call = "awaited"

    @event("CallReceived")
    def receive_call(self, node_id: str, body: Any) -> None:
        """The resume URL was called with ``body`` (the node's ``NodeSucceeded`` then carries its items)."""
        self.nodes[node_id].call = "received"

    @event("WorkflowCalled")
    def call_workflow(
        self, node_id: str, attempt: int, child_execution_id: str, workflow_id: str, version: int | None
    ) -> None:
        """An execute_workflow node's attempt starts ``child_execution_id`` (its outcome comes back as the
        node's ``NodeSucceeded`` or ``NodeFailed``)."""
        run = self.nodes[node_id]
        run.child = child_execution_id
        self.calls.append(
            {"execution_id": child_execution_id, "node": node_id, "workflow_id": workflow_id, "version": version}
        )

    @event("LoopStarted")
    def start_loop(
        self,
        node_id: str,
        input_from: list[list[str]] | None,
        input: Items | None,
        batch_size: int,
        body: list[str],
    ) -> None:
        """A loop node got its items (as :meth:`evaluate_node` records them) and sends its first batch."""
        run = self.nodes[node_id]
        run.input = input if input is not None else self._input_from(input_from or [])
        run.status = "running"
        run.attempts = 1
        run.error = None
        run.dispatched = False
        run.scheduled_at = run.started_at = self.modified_on
        count = len(run.input)
        run.loop = LoopProgress(batch_size=batch_size, iterations=max(1, -(-count // batch_size)))
        self._next_batch(node_id, 1, body)

    @event("LoopIterated")
    def iterate_loop(self, node_id: str, iteration: int, collect_from: list[list[str]], body: list[str]) -> None:
        """The body finished a batch: what came back (``collect_from``, resolved now) is collected, the body's
        nodes are reset and the next batch goes out."""
        self._collect(node_id, collect_from)
        self._next_batch(node_id, iteration, body)

    @event("LoopFinished")
    def finish_loop(self, node_id: str, collect_from: list[list[str]]) -> None:
        """The last batch came back: everything collected goes out on ``done``."""
        self._collect(node_id, collect_from)
        run = self.nodes[node_id]
        collected = run.loop.collected if run.loop is not None else []
        run.status = "succeeded"
        run.ports = {_LOOP_PORT: [], "done": collected}
        run.finished_at = self.modified_on
        self._finished_node(node_id)

    def _collect(self, node_id: str, sources: list[list[str]]) -> None:
        progress = self.nodes[node_id].loop
        if progress is None:
            return
        for source, port in sources:
            feeding = self.nodes[source]
            if feeding.status == "succeeded" or (source == node_id and port == _LOOP_PORT):
                progress.collected.extend(feeding.ports.get(port, []))

    def _next_batch(self, node_id: str, iteration: int, body: list[str]) -> None:
        run = self.nodes[node_id]
        size = run.loop.batch_size if run.loop is not None else 1
        items = run.input or []
        run.iteration = iteration
        run.ports = {_LOOP_PORT: items[(iteration - 1) * size : iteration * size]}
        for member in body:
            before = self.nodes[member]
            self.nodes[member] = NodeRun(runs=before.runs + int(before.status != "pending"), iteration=iteration)
            if member in self.finish_order:
                self.finish_order.remove(member)

    @event("ExecutionResumed")
    def resume(self, node_id: str) -> None:
        self.status = self._moving_status()

    def _moving_status(self) -> str:
        """What a run that is not finished shows: queued, paused (a breakpoint or a hold), waiting in a wait node,
        or running."""
        if self.queued:
            return "queued"
        if self.breakpoint is not None or self.held:
            return "paused"
        return "waiting" if any(run.status == "waiting" for run in self.nodes.values()) else "running"

    # the debug state is read with defaults, so runs recorded (or snapshotted) before debug runs load unchanged

    @property
    def breakpoint(self) -> dict[str, Any] | None:
        """Where a debug run stopped (``{"node", "run", "reason"}``), None when it is not at a breakpoint."""
        paused: dict[str, Any] | None = getattr(self, "_breakpoint", None)
        return paused

    @property
    def stepping(self) -> bool:
        """A debug run steps: it stops again before the next node that becomes ready."""
        return bool(getattr(self, "_stepping", False))

    @property
    def released(self) -> dict[str, int]:
        """Nodes a breakpoint let through, by the run it let through (a loop body's next run stops again)."""
        released: dict[str, int] = getattr(self, "_released", {})
        return released

    @property
    def queued(self) -> bool:
        """Waiting for its workflow's concurrency limit (or a pause of starts) to let it begin."""
        return bool(getattr(self, "_queued", False))

    @property
    def held(self) -> bool:
        """Held by a pause of runs (the kill switch) at its last decision."""
        return bool(getattr(self, "_held", False))

    @event("ExecutionQueued")
    def queue(self, reason: str) -> None:
        """The run waits to begin (``reason``: the workflow's ``max_concurrent_runs``, or a pause of starts)."""
        self._queued = True
        self.status = "queued"

    @event("ExecutionAdmitted")
    def admit(self) -> None:
        self._queued = False
        self.status = self._moving_status()

    @event("ExecutionHeld")
    def hold(self) -> None:
        """A pause of runs holds this one: nothing new starts until it is resumed."""
        self._held = True
        self.status = self._moving_status()

    @event("ExecutionReleased")
    def release(self) -> None:
        self._held = False
        self.status = self._moving_status()

    @property
    def debug(self) -> dict[str, Any] | None:
        """The breakpoints of a run started in debug mode (``{"breakpoints", "conditions"}``), else None."""
        debug = self.trigger_meta.get("debug")
        return debug if isinstance(debug, dict) else None

    @event("BreakpointReached")
    def reach_breakpoint(self, node_id: str, run: int, reason: str, input: Items | None = None) -> None:
        """A debug run stopped before ``node_id`` (not scheduled yet: its input may still be edited). ``input`` is
        what it would run on, recorded so the operator sees it (None in events logged before it was)."""
        self._breakpoint: dict[str, Any] | None = {"node": node_id, "run": run, "reason": reason, "input": input}
        self.status = "paused"

    @event("NodeInputEdited")
    def edit_input(self, node_id: str, input: Items) -> None:
        """An operator replaced the input of the node the run is paused before."""
        self.input_overrides = {**self.input_overrides, node_id: input}

    @event("BreakpointReleased")
    def release_breakpoint(self, node_id: str, run: int, step: bool) -> None:
        """The operator let the paused node run; ``step``: stop again before the next node that becomes ready."""
        self._breakpoint = None
        self._stepping = step
        self._released = {**self.released, node_id: run}
        self.status = self._moving_status()

    @event("ExecutionSucceeded")
    def succeed(self, output: Items) -> None:
        self.status = "succeeded"
        self.output = output
        self.finished_at = self.modified_on

    @event("ExecutionFailed")
    def fail(self, error: str, node_id: str | None) -> None:
        self.status = "failed"
        self.error = error
        self.failed_node = node_id
        self.finished_at = self.modified_on

    @event("ExecutionCancelled")
    def cancel(self, reason: str) -> None:
        self.status = "cancelled"
        self.error = reason
        self.finished_at = self.modified_on

    @property
    def caller(self) -> dict[str, Any] | None:
        """The execution (and node) that started this one with execute_workflow, if one did."""
        caller = self.trigger_meta.get("caller")
        return dict(caller) if isinstance(caller, dict) else None

    @property
    def call_depth(self) -> int:
        """How many execute_workflow calls deep this run is (0: started by a trigger or a client)."""
        caller = self.caller
        return int(caller.get("depth", 1)) if caller else 0

    def waiting_nodes(self) -> list[str]:
        return [node_id for node_id, run in self.nodes.items() if run.status == "waiting"]

    def in_flight(self) -> list[str]:
        """Nodes handed to the connectors whose outcome is not recorded yet."""
        return [
            node_id for node_id, run in self.nodes.items() if run.status in ("scheduled", "running") and run.dispatched
        ]

    def retrying(self) -> list[str]:
        return [node_id for node_id, run in self.nodes.items() if run.status == "retrying"]

    def first_failed(self) -> str | None:
        for node_id in self.finish_order:
            if self.nodes[node_id].status == "failed":
                return node_id
        return None
