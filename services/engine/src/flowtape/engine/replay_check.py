"""Replay check: would a workflow version have taken the same path over recorded runs?

The engine's own decider re-drives the version over each recorded execution's log with no side effects: pure
nodes are evaluated with the version's own parameters (they are deterministic and free of I/O), each attempt of
an I/O node (or a call of another workflow, or static data) gives back the outcome recorded for that attempt of
that run (so retries and loop batches replay as they happened), waits for a call get the call that came, and
timers fire at once. Where the version would run a node the recording never ran, its effect is unknown, and that alone
is a difference worth reporting.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any, Literal

from flowtape.common.errors import FlowtapeError
from flowtape.common.nodes.sdk import NodeType
from flowtape.engine.domain.decider import (
    Circumstances,
    Decision,
    Happened,
    ResumeCalled,
    Started,
    TaskCompleted,
    TimerFired,
    decide,
)
from flowtape.engine.domain.execution import Execution, NodeRun
from flowtape.engine.domain.graph import WorkflowGraph

#: a replayed run is decided in one go: no budget, nothing else waits for it
_UNBOUNDED = 1 << 30
UNKNOWN = "not run in the recording: its outcome is unknown"
_TIMERS: dict[str, Literal["retry", "wake"]] = {"retrying": "retry", "waiting": "wake"}
#: where in the recorded order an answer the recording does not hold comes: after everything it does
_NEVER = 1 << 62


def redrive(
    graph: WorkflowGraph, recorded: Execution, log: Sequence[Any], inline: dict[str, NodeType[Any]]
) -> dict[str, NodeRun]:
    """The node states ``graph`` reaches through the engine's own decider over ``recorded``'s trigger.

    ``inline`` names the node types to evaluate again; any other node (I/O, or a pure node whose output is not a
    function of its input, such as a random value or the time) is answered from the recording.

    Each dispatched attempt is answered with the outcome the log recorded for it and each timer fires, in the
    order the log recorded them (concurrent branches interleave as they did); an attempt the recording never
    made answers last, as a failure of unknown outcome.
    """
    # keyed by (node, run, attempt): a node inside a loop body runs once per batch, and the recording's own
    # state, rebuilt event by event, says which run each event belongs to
    outcomes: dict[tuple[str, int, int], Any] = {}
    started_at: dict[tuple[str, int, int], Any] = {}
    fired_at: dict[tuple[str, str, int, int], int] = {}
    calls: dict[tuple[str, int], Any] = {}
    shadow: Execution | None = None
    for event in log:
        shadow = event.mutate(shadow)
        assert shadow is not None
        kind = type(event).__name__
        node_id = getattr(event, "node_id", None)
        runs = shadow.nodes[node_id].runs if isinstance(node_id, str) and node_id in shadow.nodes else 1
        if kind in ("NodeSucceeded", "NodeFailed"):
            outcomes[(event.node_id, runs, event.attempt)] = event
            fired_at.setdefault((event.node_id, "wake", runs, event.attempt), event.originator_version)
        elif kind == "NodeEvaluated":  # an inline node runs once: the value it really produced
            outcomes[(event.node_id, runs, 1)] = event
        elif kind == "NodeStarted":
            started_at[(event.node_id, runs, event.attempt)] = event.started_at
        elif kind == "NodeScheduled" and event.attempt > 1:
            fired_at[(event.node_id, "retry", runs, event.attempt - 1)] = event.originator_version
        elif kind == "CallReceived":
            calls[(event.node_id, runs)] = event
    replayed = Execution.begin(
        None,
        workflow_id=recorded.workflow_id,
        workflow_version=recorded.workflow_version,
        trigger=recorded.trigger,
        trigger_meta=recorded.trigger_meta,
        node_ids=list(graph.nodes),
        deadline=None,
    )
    if recorded.parent is not None:
        fork_node = recorded.parent["node"]
        replayed.fork_from(recorded.parent["execution_id"], fork_node, recorded.input_overrides.get(fork_node))
        for node_id, run in recorded.nodes.items():
            if run.copied_from is not None and node_id in graph.nodes:
                replayed.copy_node(node_id, run.status, run.input, run.ports)
    circumstances = Circumstances(now=recorded.started_at, inline=inline, budget=_UNBOUNDED)
    pending: list[tuple[int, int, Happened]] = []
    order = itertools.count()
    armed: set[tuple[str, str, int, int]] = set()
    happened: Happened = Started()
    while True:
        try:
            decision = decide(replayed, graph, happened, circumstances)
        except FlowtapeError:  # a recorded call the replayed run no longer waits for
            decision = Decision(ignored=True)
        for node_id in decision.dispatch:
            runs, attempt = replayed.nodes[node_id].runs, replayed.nodes[node_id].attempts
            outcome = outcomes.get((node_id, runs, attempt))
            when = started_at.get((node_id, runs, attempt), recorded.started_at)
            answer: Happened
            if outcome is None:
                answer = TaskCompleted(node_id, attempt, when, False, error=UNKNOWN, error_code="unknown", run=runs)
                heapq.heappush(pending, (_NEVER, next(order), answer))
            elif type(outcome).__name__ in ("NodeSucceeded", "NodeEvaluated"):
                answer = TaskCompleted(node_id, attempt, when, True, ports=outcome.ports, run=runs)
                heapq.heappush(pending, (outcome.originator_version, next(order), answer))
            else:
                answer = TaskCompleted(
                    node_id, attempt, when, False, error=outcome.error, error_code=outcome.code, run=runs
                )
                heapq.heappush(pending, (outcome.originator_version, next(order), answer))
        for node_id, run in replayed.nodes.items():
            timer = _TIMERS.get(run.status)
            key = (node_id, timer or "", run.runs, run.attempts)
            if timer is None or key in armed:
                continue
            armed.add(key)
            call = calls.get((node_id, run.runs)) if run.call == "awaited" else None
            if call is not None:  # the person or system that called the resume URL, as recorded
                answer = ResumeCalled(node_id, run.runs, call.body)
                heapq.heappush(pending, (call.originator_version, next(order), answer))
            else:
                heapq.heappush(
                    pending, (fired_at.get(key, _NEVER - 1), next(order), TimerFired(timer, node_id, run.runs))
                )
        if not pending:
            return replayed.nodes
        happened = heapq.heappop(pending)[2]


def _port(run: NodeRun | None) -> str | None:
    if run is None or run.status != "succeeded":
        return None
    with_items = sorted(port for port, items in run.ports.items() if items)
    return ",".join(with_items) or None


def differences(recorded: Execution, replayed: dict[str, NodeRun]) -> list[dict[str, Any]]:
    found = []
    for node_id in sorted(set(recorded.nodes) | set(replayed)):
        before, after = recorded.nodes.get(node_id), replayed.get(node_id)
        was = before.status if before else "absent"
        now = after.status if after else "absent"
        if was == "pending" and now == "pending":
            continue
        if was != now or _port(before) != _port(after):
            found.append(
                {
                    "node": node_id,
                    "recorded": {"status": was, "port": _port(before)},
                    "replayed": {"status": now, "port": _port(after), "note": after.error if after else None},
                }
            )
    return found
