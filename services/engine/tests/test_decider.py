"""The one decider, case by case: an execution's state and one thing that happened in, events and commands out.

No I/O, no clock: ``NOW`` is the fake time every decision is given, pure nodes are the real built-ins, and
``call`` (an ``http_request``) stands for any node the connectors run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowtape.common.errors import Conflict
from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.engine.domain.decider import (
    CancelRequested,
    Circumstances,
    Continue,
    Decision,
    Happened,
    Started,
    TaskCompleted,
    TimerFired,
    decide,
)
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.replay_check import differences, redrive

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INLINE = {cls.type: cls() for cls in BUILTIN_NODES if cls.pure}


def at(seconds: float = 0) -> Circumstances:
    return Circumstances(now=NOW + timedelta(seconds=seconds), inline=INLINE, jitter=0.5)


def graph(nodes: list[dict[str, Any]], edges: list[tuple[str, ...]], **settings: Any) -> WorkflowGraph:
    return WorkflowGraph.from_dict(
        {
            "name": "t",
            "nodes": nodes,
            "edges": [{"from": e[0], "to": e[-1], **({"port": e[1]} if len(e) == 3 else {})} for e in edges],
            "settings": settings,
        }
    )


def n(node_id: str, node_type: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "params": params}


def call(node_id: str = "call", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http_request", "params": {"url": "http://api.test/x"}, **extra}


@dataclass
class Run:
    graph: WorkflowGraph
    execution: Execution

    @classmethod
    def of(cls, g: WorkflowGraph, trigger: list[dict[str, Any]] | None = None) -> Run:
        execution = Execution.begin(
            None,
            workflow_id="wf",
            workflow_version=1,
            trigger=trigger if trigger is not None else [{"n": 1}],
            trigger_meta={},
            node_ids=list(g.nodes),
            deadline=NOW + timedelta(seconds=float(g.definition.settings["timeout_seconds"]))
            if "timeout_seconds" in g.definition.settings
            else None,
        )
        return cls(g, execution)

    def on(self, happened: Happened, when: Circumstances | None = None) -> Decision:
        self.execution.collect_events()
        return decide(self.execution, self.graph, happened, when or at())

    def events(self) -> list[str]:
        return [type(e).__name__ for e in self.execution.pending_events]

    def status(self) -> dict[str, str]:
        return {node_id: run.status for node_id, run in self.execution.nodes.items()}

    def done(self, node_id: str, ports: dict[str, Any] | None = None, attempt: int = 1) -> Decision:
        return self.on(TaskCompleted(node_id, attempt, NOW, True, ports or {"main": [{"done": node_id}]}))

    def failed(self, node_id: str, attempt: int = 1, code: str = "node_error") -> Decision:
        return self.on(TaskCompleted(node_id, attempt, NOW, False, error="boom", error_code=code))


BRANCHING = graph(
    [
        n("hook", "manual_trigger"),
        n("calc", "set", fields={"doubled": "{{ item.n * 2 }}"}),
        n("check", "if", condition="{{ item.n > 10 }}"),
        n("big", "set", fields={"label": "big"}),
        n("small", "set", fields={"label": "small"}),
    ],
    [("hook", "calc"), ("calc", "check"), ("check", "true", "big"), ("check", "false", "small")],
)


@pytest.mark.parametrize(("value", "taken", "skipped"), [(30, "big", "small"), (3, "small", "big")])
def test_a_run_of_pure_nodes_is_decided_in_one_go(value: int, taken: str, skipped: str) -> None:
    run = Run.of(BRANCHING, [{"n": value}])
    decision = run.on(Started())

    assert (decision.dispatch, decision.more, decision.cancel_tasks) == ([], False, False)
    assert run.execution.status == "succeeded"
    assert run.status()[taken] == "succeeded" and run.status()[skipped] == "skipped"
    assert run.execution.output == [{"n": value, "doubled": 2 * value, "label": taken}]
    assert (
        run.events()
        == [
            "ExecutionStarted",
            "NodeEvaluated",
            "NodeEvaluated",
            "NodeEvaluated",
            "NodesSkipped",
            "NodeEvaluated",
            "ExecutionSucceeded",
        ][1:]
    )


def test_an_io_node_is_dispatched_and_its_outcome_moves_the_run_on() -> None:
    run = Run.of(
        graph(
            [n("t", "manual_trigger"), call(), n("after", "set", fields={"ok": True})],
            [("t", "call"), ("call", "after")],
        )
    )
    first = run.on(Started())
    assert first.dispatch == ["call"] and run.execution.status == "running"
    assert run.status() == {"t": "succeeded", "call": "scheduled", "after": "pending"}

    second = run.done("call", {"main": [{"id": 7}]})
    assert second.dispatch == [] and run.execution.status == "succeeded"
    assert run.events() == ["NodeStarted", "NodeSucceeded", "NodeEvaluated", "ExecutionSucceeded"]
    assert run.execution.output == [{"id": 7, "ok": True}]


def test_a_merge_waits_for_both_branches_and_takes_what_arrived() -> None:
    g = graph(
        [n("t", "manual_trigger"), call("a"), n("b", "set", fields={"side": "b"}), n("m", "merge")],
        [("t", "a"), ("t", "b"), ("a", "m"), ("b", "m")],
    )
    run = Run.of(g)
    assert run.on(Started()).dispatch == ["a"]
    assert run.status()["m"] == "pending", "the merge ran before branch a finished"
    run.done("a", {"main": [{"side": "a"}]})
    assert run.execution.status == "succeeded"
    assert run.execution.nodes["m"].input == [{"side": "a"}, {"n": 1, "side": "b"}]


def test_a_late_or_duplicate_outcome_changes_nothing() -> None:
    run = Run.of(graph([n("t", "manual_trigger"), call()], [("t", "call")]))
    run.on(Started())
    assert run.done("call", attempt=2).ignored, "an outcome of an attempt never dispatched"
    assert run.done("call").ignored is False
    assert run.done("call").ignored, "the same outcome twice"
    assert run.events() == []


def test_a_failed_attempt_is_retried_after_a_recorded_backoff_then_succeeds() -> None:
    retry = {"max_attempts": 3, "backoff_seconds": 2, "max_backoff_seconds": 60}
    run = Run.of(graph([n("t", "manual_trigger"), call(retry=retry)], [("t", "call")]))
    run.on(Started())

    run.failed("call", attempt=1)
    assert run.events() == ["NodeStarted", "NodeFailed", "NodeRetryScheduled"]
    node = run.execution.nodes["call"]
    assert node.status == "retrying" and node.retry_at == NOW + timedelta(seconds=1.5)  # 2 s: half fixed, half jitter
    assert run.on(TimerFired("retry", "call")).dispatch == ["call"]
    assert node.attempts == 2 and node.status == "scheduled"
    run.failed("call", attempt=2)
    assert node.retry_at == NOW + timedelta(seconds=3), "the backoff doubles"
    run.on(TimerFired("retry", "call"))
    run.done("call", attempt=3)
    assert run.execution.status == "succeeded" and node.attempts == 3


def test_attempts_run_out_or_the_error_is_not_worth_retrying() -> None:
    retry = {"max_attempts": 2, "retry_on": ["timeout"]}
    g = graph([n("t", "manual_trigger"), call(retry=retry), n("after", "set")], [("t", "call"), ("call", "after")])
    run = Run.of(g)
    run.on(Started())
    run.failed("call", code="node_error")
    assert run.execution.status == "failed" and run.execution.failed_node == "call"
    assert run.events()[-1] == "ExecutionFailed"

    run = Run.of(g)
    run.on(Started())
    run.failed("call", code="timeout")
    run.on(TimerFired("retry", "call"))
    run.failed("call", attempt=2, code="timeout")
    assert run.execution.status == "failed"
    assert run.execution.error == "node call failed (after 2 attempts): boom"


def test_a_failing_inline_node_is_not_retried() -> None:
    retry = {"max_attempts": 5}
    run = Run.of(
        graph(
            [n("t", "manual_trigger"), {**n("bad", "set", fields={"x": "{{ nope.x }}"}), "retry": retry}],
            [("t", "bad")],
        )
    )
    run.on(Started())
    assert run.execution.status == "failed" and run.execution.failed_node == "bad"
    assert "nope" in (run.execution.nodes["bad"].error or "")


def test_a_wait_pauses_until_its_timer_fires() -> None:
    g = graph([n("t", "manual_trigger"), n("w", "wait", seconds=30), n("after", "set")], [("t", "w"), ("w", "after")])
    run = Run.of(g)
    run.on(Started())
    assert run.execution.status == "waiting"
    assert run.execution.nodes["w"].resume_at == NOW + timedelta(seconds=30)
    assert run.on(TimerFired("wake", "call")).ignored, "a timer of a node that is not waiting"
    run.on(TimerFired("wake", "w"), at(30))
    assert run.events() == ["NodeSucceeded", "ExecutionResumed", "NodeEvaluated", "ExecutionSucceeded"]
    assert run.on(TimerFired("wake", "w")).ignored, "a timer served twice"


def test_the_deadline_fails_the_run_and_stops_its_tasks() -> None:
    run = Run.of(graph([n("t", "manual_trigger"), call()], [("t", "call")], timeout_seconds=10))
    run.on(Started())
    decision = run.on(TimerFired("deadline"), at(10))
    assert decision.cancel_tasks and run.execution.status == "failed"
    assert "timed out after 10 s" in (run.execution.error or "")
    assert run.done("call").ignored


def test_cancel_stops_running_tasks_and_a_finished_run_cannot_be_cancelled() -> None:
    run = Run.of(graph([n("t", "manual_trigger"), call()], [("t", "call")]))
    run.on(Started())
    decision = run.on(CancelRequested("stop"))
    assert decision.cancel_tasks and run.execution.status == "cancelled"
    with pytest.raises(Conflict):
        run.on(CancelRequested("again"))

    finished = Run.of(BRANCHING)
    finished.on(Started())
    with pytest.raises(Conflict):
        finished.on(CancelRequested("too late"))


def test_a_fork_reruns_from_its_node_with_the_input_given() -> None:
    run = Run.of(BRANCHING, [{"n": 3}])
    run.execution.fork_from("parent", "check", [{"n": 50, "doubled": 100}])
    run.execution.copy_node("hook", "succeeded", [{"n": 3}], {"main": [{"n": 3}]})
    run.execution.copy_node("calc", "succeeded", [{"n": 3}], {"main": [{"n": 3, "doubled": 6}]})
    run.on(Started())
    assert run.execution.status == "succeeded"
    assert run.execution.output == [{"n": 50, "doubled": 100, "label": "big"}]
    assert run.execution.nodes["hook"].copied_from == "parent"
    assert run.events() == ["NodeEvaluated", "NodesSkipped", "NodeEvaluated", "ExecutionSucceeded"]


def test_a_long_chain_is_decided_in_budgets_and_continues() -> None:
    nodes = [n("t", "manual_trigger")] + [n(f"s{i}", "set", fields={f"f{i}": i}) for i in range(100)]
    edges = [("t", "s0")] + [(f"s{i}", f"s{i + 1}") for i in range(99)]
    run = Run.of(graph(nodes, edges))
    budget = Circumstances(now=NOW, inline=INLINE, budget=40)
    first = run.on(Started(), budget)
    assert first.more and run.execution.status == "running"
    assert sum(1 for s in run.status().values() if s == "succeeded") == 40
    assert run.on(Continue(), budget).more
    assert not run.on(Continue(), budget).more
    assert run.execution.status == "succeeded" and run.execution.output[0]["f99"] == 99


def test_the_replay_check_follows_the_engine_through_a_retried_and_a_failed_node() -> None:
    """The engine and replay-check call the same decider, so over the engine's own log they agree."""
    retry = {"max_attempts": 3, "backoff_seconds": 1}
    g = graph(
        [
            n("t", "manual_trigger"),
            call("flaky", retry=retry),
            call("broken"),
            n("after", "set", fields={"ok": True}),
        ],
        [("t", "flaky"), ("t", "broken"), ("flaky", "after")],
    )
    run = Run.of(g)

    def record(happened: Happened) -> Decision:
        return decide(run.execution, g, happened, at())  # events pile up on the aggregate: the whole log

    record(Started())
    record(TaskCompleted("flaky", 1, NOW, False, error="503", error_code="node_error"))
    record(TimerFired("retry", "flaky"))
    record(TaskCompleted("flaky", 2, NOW, True, {"main": [{"ok": 1}]}))
    record(TaskCompleted("broken", 1, NOW, False, error="500", error_code="node_error"))
    assert run.execution.status == "failed" and run.execution.nodes["flaky"].attempts == 2

    replayed = redrive(g, run.execution, run.execution.collect_events(), INLINE)
    assert {k: v.status for k, v in replayed.items()} == run.status()
    assert replayed["flaky"].attempts == 2
    assert differences(run.execution, replayed) == []


def test_the_replay_check_uses_the_recorded_value_of_a_node_that_is_not_a_function_of_its_input() -> None:
    g = graph(
        [n("t", "manual_trigger"), n("id", "uuid"), n("tag", "set", fields={"tagged": "{{ item.id }}"})],
        [("t", "id"), ("id", "tag")],
    )
    run = Run.of(g)
    decide(run.execution, g, Started(), at())
    assert run.execution.status == "succeeded"

    replayable = {name: node for name, node in INLINE.items() if type(node).deterministic}
    replayed = redrive(g, run.execution, run.execution.collect_events(), replayable)
    assert replayed["tag"].output == run.execution.nodes["tag"].output, "the uuid the run really used"
    assert differences(run.execution, replayed) == []
