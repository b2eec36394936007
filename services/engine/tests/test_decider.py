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
from flowtape.common.nodes.builtin import BUILTIN_NODES, NoopParams
from flowtape.common.nodes.sdk import NodeResult, NodeType
from flowtape.engine.domain.decider import (
    CancelRequested,
    ChildFinished,
    Circumstances,
    Continue,
    Decision,
    Happened,
    ResumeCalled,
    Started,
    TaskCompleted,
    TimerFired,
    child_execution_id,
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


# --- flow control: on_error, stop_and_error, loops, sub-workflows, waits for a call, static data ---------------


def test_on_error_continue_turns_the_error_into_items_and_the_run_goes_on() -> None:
    g = graph(
        [n("t", "manual_trigger"), call(on_error="continue"), n("after", "set", fields={"seen": True})],
        [("t", "call"), ("call", "after")],
    )
    run = Run.of(g, [{"order": 7}])
    run.on(Started())
    run.failed("call")
    assert run.events() == ["NodeStarted", "NodeFailed", "NodeErrorCaught", "NodeEvaluated", "ExecutionSucceeded"]
    error = {"message": "boom", "code": "node_error", "node": "call", "attempts": 1}
    assert run.execution.output == [{"order": 7, "error": error, "seen": True}]
    node = run.execution.nodes["call"]
    assert (
        node.status == "succeeded" and node.error == "boom" and node.ports == {"main": [{"order": 7, "error": error}]}
    )


def test_on_error_error_port_routes_the_failed_items_after_the_retries_are_spent() -> None:
    retry = {"max_attempts": 2, "backoff_seconds": 1}
    g = graph(
        [
            n("t", "manual_trigger"),
            call(on_error="error_port", retry=retry),
            n("ok", "set", fields={"branch": "ok"}),
            n("handled", "set", fields={"branch": "error"}),
        ],
        [("t", "call"), ("call", "ok"), ("call", "error", "handled")],
    )
    run = Run.of(g)
    run.on(Started())
    run.failed("call", attempt=1)
    assert run.execution.nodes["call"].status == "retrying", "on_error applies once the retries are spent"
    run.on(TimerFired("retry", "call"))
    run.failed("call", attempt=2)
    assert run.execution.status == "succeeded"
    assert run.status()["ok"] == "skipped" and run.status()["handled"] == "succeeded"
    assert run.execution.output[0]["branch"] == "error" and run.execution.output[0]["error"]["attempts"] == 2


def test_on_error_applies_to_nodes_evaluated_inline() -> None:
    bad = {**n("bad", "set", fields={"x": "{{ nope.x }}"}), "on_error": "error_port"}
    g = graph([n("t", "manual_trigger"), bad, n("fix", "noop")], [("t", "bad"), ("bad", "error", "fix")])
    run = Run.of(g)
    run.on(Started())
    assert run.execution.status == "succeeded"
    assert "nope" in run.execution.output[0]["error"]["message"]


def test_stop_and_error_fails_the_run_with_its_message_when_items_reach_it() -> None:
    g = graph(
        [
            n("t", "manual_trigger"),
            n("check", "if", condition="{{ item.customer == None }}"),
            n("stop", "stop_and_error", message="order {{ item.id }} has no customer"),
            n("go", "noop"),
        ],
        [("t", "check"), ("check", "true", "stop"), ("check", "false", "go")],
    )
    stopped = Run.of(g, [{"id": 7, "customer": None}])
    stopped.on(Started())
    assert stopped.execution.status == "failed" and stopped.execution.failed_node == "stop"
    assert stopped.execution.error == "order 7 has no customer"
    fine = Run.of(g, [{"id": 8, "customer": "ada"}])
    fine.on(Started())
    assert fine.execution.status == "succeeded" and fine.status()["stop"] == "skipped"


def loop_graph(batch_size: int = 10, *, body_call: bool = True) -> WorkflowGraph:
    """25 items in batches: each batch aggregated into one item and (with ``body_call``) posted."""
    nodes = [
        n("t", "manual_trigger"),
        n("each", "loop", batch_size=batch_size),
        n("batch", "aggregate", to="orders"),
        n("done", "set", fields={"finished": True}),
    ]
    edges: list[tuple[str, ...]] = [("t", "each"), ("each", "loop", "batch"), ("each", "done", "done")]
    if body_call:
        nodes.append(call("post"))
        edges += [("batch", "post"), ("post", "each")]
    else:
        edges.append(("batch", "each"))
    return graph(nodes, edges)


ORDERS = [{"id": i} for i in range(25)]


def test_a_loop_runs_its_body_once_per_batch_and_collects_what_comes_back() -> None:
    run = Run.of(loop_graph(), ORDERS)
    first = run.on(Started())
    assert first.dispatch == ["post"]
    assert run.events() == ["NodeEvaluated", "LoopStarted", "NodeEvaluated", "NodeScheduled"]
    assert run.execution.nodes["batch"].output == [{"orders": ORDERS[:10]}]
    assert run.execution.nodes["batch"].input == ORDERS[:10], "the log records the batch as the body's input"
    assert run.execution.nodes["each"].status == "running" and run.execution.nodes["each"].iteration == 1

    for batch in range(3):
        post = run.execution.nodes["post"]
        assert post.input == [{"orders": ORDERS[batch * 10 : batch * 10 + 10]}]
        assert (post.runs, post.iteration) == (batch + 1, batch + 1)
        decision = run.on(TaskCompleted("post", 1, NOW, True, {"main": [{"posted": batch}]}, run=batch + 1))
        assert decision.dispatch == (["post"] if batch < 2 else [])
    assert run.events() == ["NodeStarted", "NodeSucceeded", "LoopFinished", "NodeEvaluated", "ExecutionSucceeded"]
    assert run.execution.status == "succeeded"
    loop = run.execution.nodes["each"]
    assert loop.ports == {"loop": [], "done": [{"posted": 0}, {"posted": 1}, {"posted": 2}]}
    assert run.execution.output == [{"posted": i, "finished": True} for i in range(3)]


def test_a_late_outcome_of_an_earlier_batch_changes_nothing() -> None:
    run = Run.of(loop_graph(), ORDERS)
    run.on(Started())
    run.on(TaskCompleted("post", 1, NOW, True, {"main": [{"posted": 0}]}, run=1))
    assert run.on(TaskCompleted("post", 1, NOW, True, {"main": [{"again": 0}]}, run=1)).ignored
    assert run.execution.nodes["post"].runs == 2 and run.execution.nodes["post"].status == "scheduled"


def test_a_loop_of_pure_nodes_is_decided_in_one_go_and_without_a_loop_back_done_gets_the_batches() -> None:
    run = Run.of(loop_graph(body_call=False), ORDERS)
    run.on(Started())
    assert run.execution.status == "succeeded"
    assert [item["orders"] for item in run.execution.nodes["each"].ports["done"]] == [
        ORDERS[:10],
        ORDERS[10:20],
        ORDERS[20:],
    ]
    no_back = graph(
        [n("t", "manual_trigger"), n("each", "loop", batch_size=4), n("body", "noop")],
        [("t", "each"), ("each", "loop", "body")],
    )
    plain = Run.of(no_back, ORDERS[:10])
    plain.on(Started())
    assert plain.execution.output == ORDERS[:10]
    assert plain.execution.nodes["body"].runs == 3


def test_loops_nest_and_an_inner_loop_runs_again_for_each_outer_batch() -> None:
    g = graph(
        [
            n("t", "manual_trigger"),
            n("outer", "loop", batch_size=4),
            n("inner", "loop", batch_size=2),
            n("tag", "set", fields={"tagged": True}),
            n("pairs", "aggregate", to="pair"),
        ],
        [
            ("t", "outer"),
            ("outer", "loop", "inner"),
            ("inner", "loop", "tag"),
            ("tag", "inner"),
            ("inner", "done", "pairs"),
            ("pairs", "outer"),
        ],
    )
    run = Run.of(g, ORDERS[:8])
    run.on(Started())
    assert run.execution.status == "succeeded"
    assert len(run.execution.output) == 2, "one aggregated item per outer batch"
    assert run.execution.output[1]["pair"] == [{**o, "tagged": True} for o in ORDERS[4:8]]
    assert run.execution.nodes["tag"].runs == 4 and run.execution.nodes["inner"].runs == 2


def _recorded(run: Run, happenings: list[Happened]) -> list[Any]:
    for happened in happenings:
        decide(run.execution, run.graph, happened, at())  # events pile up on the aggregate: the whole log
    return list(run.execution.collect_events())


def test_time_travel_and_the_replay_check_see_each_batch_of_a_loop() -> None:
    g = loop_graph()
    run = Run.of(g, ORDERS)
    log = _recorded(
        run,
        [Started(), *(TaskCompleted("post", 1, NOW, True, {"main": [{"posted": b}]}, run=b + 1) for b in range(3))],
    )
    second = next(e.originator_version for e in log if type(e).__name__ == "LoopIterated")
    posted = next(
        e.originator_version for e in log if type(e).__name__ == "NodeScheduled" and e.originator_version > second
    )
    past: Execution | None = None
    for event in log[:posted]:
        past = event.mutate(past)
    assert past is not None
    assert past.nodes["each"].iteration == 2 and past.nodes["post"].status == "scheduled"
    assert past.nodes["post"].runs == 2 and past.nodes["post"].input == [{"orders": ORDERS[10:20]}]

    replayed = redrive(g, run.execution, log, INLINE)
    assert differences(run.execution, replayed) == []
    assert replayed["each"].ports == run.execution.nodes["each"].ports


def test_execute_workflow_starts_a_child_and_outputs_what_it_returned() -> None:
    g = graph(
        [n("t", "manual_trigger"), n("sub", "execute_workflow", workflow_id="child-wf", version=2)],
        [("t", "sub")],
    )
    run = Run.of(g, [{"n": 21}])
    assert run.on(Started()).dispatch == ["sub"]
    assert run.events() == ["NodeEvaluated", "NodeScheduled", "WorkflowCalled"]
    child = run.execution.nodes["sub"].child
    assert child == child_execution_id(str(run.execution.id), "sub", 1, 1)
    assert run.execution.calls == [{"execution_id": child, "node": "sub", "workflow_id": "child-wf", "version": 2}]
    assert run.on(ChildFinished("sub", "someone-else", NOW, True, [{"x": 1}])).ignored
    run.on(ChildFinished("sub", child, NOW, True, [{"doubled": 42}]))
    assert run.execution.status == "succeeded" and run.execution.output == [{"doubled": 42}]


def test_a_failed_child_fails_the_node_so_retry_starts_another_child_and_on_error_applies() -> None:
    spec = {
        **n("sub", "execute_workflow", workflow_id="child-wf"),
        "retry": {"max_attempts": 2, "backoff_seconds": 1},
        "on_error": "continue",
    }
    run = Run.of(graph([n("t", "manual_trigger"), spec], [("t", "sub")]))
    run.on(Started())
    first = run.execution.nodes["sub"].child or ""
    run.on(ChildFinished("sub", first, NOW, False, error="node x failed: boom"))
    assert run.execution.nodes["sub"].status == "retrying"
    assert run.on(TimerFired("retry", "sub")).dispatch == ["sub"]
    second = run.execution.nodes["sub"].child or ""
    assert second != first and second == child_execution_id(str(run.execution.id), "sub", 1, 2)
    run.on(ChildFinished("sub", second, NOW, False, error="node x failed: boom"))
    assert run.execution.status == "succeeded"
    assert run.execution.output[0]["error"]["code"] == "child_failed"
    assert second in run.execution.output[0]["error"]["message"]


def test_calls_nest_only_so_deep_and_a_cancelled_run_stops_its_children() -> None:
    g = graph([n("t", "manual_trigger"), n("sub", "execute_workflow", workflow_id="wf")], [("t", "sub")])
    deep = Execution.begin(
        None,
        workflow_id="wf",
        workflow_version=1,
        trigger=[{}],
        trigger_meta={"caller": {"execution_id": "e", "node": "sub", "depth": 3}},
        node_ids=list(g.nodes),
        deadline=None,
    )
    decide(deep, g, Started(), Circumstances(now=NOW, inline=INLINE, max_call_depth=3))
    assert deep.status == "failed" and "nest workflow runs 4 deep" in (deep.error or "")

    run = Run.of(g)
    run.on(Started())
    decision = run.on(CancelRequested("stop"))
    assert decision.cancel_children == [run.execution.nodes["sub"].child]


def test_a_wait_for_a_call_resumes_once_with_the_body_it_was_called_with() -> None:
    g = graph(
        [n("t", "manual_trigger"), n("approve", "wait", resume="webhook", timeout_seconds=3600), n("after", "noop")],
        [("t", "approve"), ("approve", "after")],
    )
    run = Run.of(g, [{"order": 7}])
    run.on(Started())
    assert run.events()[-2:] == ["ExecutionPaused", "CallAwaited"]
    assert run.execution.status == "waiting"
    assert run.execution.nodes["approve"].resume_at == NOW + timedelta(hours=1)
    run.on(ResumeCalled("approve", 1, {"approved": True}))
    assert run.events() == ["CallReceived", "NodeSucceeded", "ExecutionResumed", "NodeEvaluated", "ExecutionSucceeded"]
    assert run.execution.output == [{"order": 7, "resume": {"approved": True}}]
    with pytest.raises(Conflict, match="used already"):
        run.on(ResumeCalled("approve", 1, {"approved": False}))


def test_a_wait_for_a_call_that_times_out_fails_its_node_and_its_url_expires() -> None:
    approve = {**n("approve", "wait", resume="webhook", timeout_seconds=60), "on_error": "error_port"}
    g = graph(
        [n("t", "manual_trigger"), approve, n("ok", "noop"), n("late", "set", fields={"late": True})],
        [("t", "approve"), ("approve", "ok"), ("approve", "error", "late")],
    )
    run = Run.of(g)
    run.on(Started())
    run.on(TimerFired("wake", "approve"), at(60))
    assert run.execution.status == "succeeded" and run.execution.output[0]["late"] is True
    assert run.execution.output[0]["error"]["code"] == "wait_timeout"
    with pytest.raises(Conflict, match="expired"):
        run.on(ResumeCalled("approve", 1, {}))


def test_static_data_is_dispatched_to_the_engine_and_its_outcome_recorded() -> None:
    g = graph(
        [n("t", "manual_trigger"), n("count", "static_data", operation="increment", key="runs")], [("t", "count")]
    )
    run = Run.of(g)
    assert run.on(Started()).dispatch == ["count"]
    run.done("count", {"main": [{"n": 1, "runs": 1}]})
    assert run.execution.output == [{"n": 1, "runs": 1}]


def test_a_node_runs_the_version_its_workflow_was_saved_with() -> None:
    class Shout(NodeType[NoopParams]):
        type = "noop"
        version = 2
        Params = NoopParams
        mode = "batch"
        pure = True

        async def run(self, ctx: Any, params: NoopParams, items: list[dict[str, Any]]) -> NodeResult:
            return NodeResult.on([{**item, "v": 2} for item in items])

    inline = {**INLINE, "noop": Shout()}
    older = {("noop", 1): INLINE["noop"]}
    for version, expected in ((1, [{"n": 1}]), (2, [{"n": 1, "v": 2}])):
        spec = {**n("node", "noop"), "version": version}
        run = Run.of(graph([n("t", "manual_trigger"), spec], [("t", "node")]))
        run.on(Started(), Circumstances(now=NOW, inline=inline, older=older))
        assert run.execution.output == expected


def test_other_nodes_see_a_wait_s_resume_url_in_execution_resume_urls() -> None:
    g = graph(
        [
            n("t", "manual_trigger"),
            n("ask", "set", fields={"link": "{{ execution.resume_urls.approve }}"}),
            n("approve", "wait", resume="webhook"),
        ],
        [("t", "ask"), ("ask", "approve")],
    )
    run = Run.of(g)

    def url(execution_id: str, node_id: str, runs: int) -> str:
        return f"/hooks/resume/{node_id}-{runs}"

    run.on(Started(), Circumstances(now=NOW, inline=INLINE, resume_url=url))
    assert run.execution.nodes["ask"].output == [{"n": 1, "link": "/hooks/resume/approve-1"}]
    assert run.execution.nodes["approve"].resume_at == NOW + timedelta(days=7), "a week by default"


def test_a_timer_armed_for_an_earlier_batch_of_a_loop_does_not_end_a_later_wait() -> None:
    g = graph(
        [
            n("t", "manual_trigger"),
            n("each", "loop", batch_size=1),
            n("approve", "wait", resume="webhook", timeout_seconds=60),
        ],
        [("t", "each"), ("each", "loop", "approve"), ("approve", "each")],
    )
    run = Run.of(g, [{"n": 1}, {"n": 2}])
    run.on(Started())
    run.on(ResumeCalled("approve", 1, {"ok": True}))
    assert run.execution.nodes["approve"].runs == 2 and run.execution.nodes["approve"].status == "waiting"
    assert run.on(TimerFired("wake", "approve", 1), at(60)).ignored, "the first batch's timeout, armed long ago"
    run.on(ResumeCalled("approve", 2, {"ok": True}))
    assert run.execution.status == "succeeded"
    assert [item["n"] for item in run.execution.output] == [1, 2]
