"""Debug runs in the decider: where a run started in debug mode stops, and stepping, continuing and edited input.

The same fake clock and built-in pure nodes as ``test_decider``; ``call`` stands for a node the connectors run.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowtape.common.errors import Conflict, InvalidInput
from flowtape.engine.domain.breakpoints import DebugInputEdited, DebugReleased, checked_debug
from flowtape.engine.domain.decider import Started, TimerFired
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.views import execution_view
from services.engine.tests.test_decider import Run, at, call, graph, n

CHAIN = graph(
    [n("start", "manual_trigger"), n("calc", "set", fields={"doubled": "{{ item.n * 2 }}"}), call(), n("end", "noop")],
    [("start", "calc"), ("calc", "call"), ("call", "end")],
)


def debug_run(g: WorkflowGraph, trigger: list[dict[str, Any]] | None = None, **debug: Any) -> Run:
    execution = Execution.begin(
        None,
        workflow_id="wf",
        workflow_version=1,
        trigger=trigger if trigger is not None else [{"n": 1}],
        trigger_meta={"debug": {"breakpoints": [], "conditions": {}, **debug}},
        node_ids=list(g.nodes),
        deadline=None,
    )
    return Run(g, execution)


def test_a_debug_run_stops_before_its_breakpoint_and_continue_runs_on_to_the_end() -> None:
    run = debug_run(CHAIN, breakpoints=["calc"])
    decision = run.on(Started())
    assert run.events()[-1] == "BreakpointReached" and not decision.dispatch
    assert run.execution.status == "paused" and run.status()["calc"] == "pending"
    # what calc would run on is recorded with the stop, for the operator to see (and edit)
    assert run.execution.breakpoint == {"node": "calc", "run": 1, "reason": "breakpoint", "input": [{"n": 1}]}

    decision = run.on(DebugReleased(step=False))
    assert run.events()[0] == "BreakpointReleased" and decision.dispatch == ["call"]
    assert run.execution.status == "running" and run.status()["calc"] == "succeeded"
    run.done("call")
    assert run.execution.status == "succeeded"


def test_stepping_stops_before_every_next_node_and_edited_input_is_what_the_node_gets() -> None:
    run = debug_run(CHAIN, breakpoints=["calc"])
    run.on(Started())
    edited = run.on(DebugInputEdited([{"n": 21}]))
    assert run.events() == ["NodeInputEdited"] and not edited.dispatch and run.execution.status == "paused"
    shown = execution_view(run.execution).debug
    assert shown is not None and shown["paused_at"]["input"] == [{"n": 21}], "the view shows the edited input"

    run.on(DebugReleased(step=True))
    assert run.execution.nodes["calc"].input == [{"n": 21}]
    assert run.execution.nodes["calc"].output == [{"n": 21, "doubled": 42}]
    assert run.execution.breakpoint == {"node": "call", "run": 1, "reason": "step", "input": [{"n": 21, "doubled": 42}]}

    dispatched = run.on(DebugReleased(step=True))
    assert dispatched.dispatch == ["call"] and run.execution.status == "running"
    run.done("call")  # the next node becomes ready: stepping stops there again
    assert {k: v for k, v in (run.execution.breakpoint or {}).items() if k != "input"} == {
        "node": "end",
        "run": 1,
        "reason": "step",
    }
    run.on(DebugReleased(step=False))
    assert run.execution.status == "succeeded"
    with pytest.raises(Conflict, match="succeeded"):
        run.on(DebugReleased(step=True))


@pytest.mark.parametrize(
    ("trigger", "stops"),
    [([{"n": 1}, {"n": 5}], "condition {{ item.n > 3 }} held for item 1"), ([{"n": 1}, {"n": 2}], None)],
)
def test_a_condition_on_the_items_stops_the_run_only_when_it_holds(
    trigger: list[dict[str, Any]], stops: str | None
) -> None:
    run = debug_run(CHAIN, trigger, conditions={"call": "{{ item.n > 3 }}"})
    decision = run.on(Started())
    if stops is None:
        assert decision.dispatch == ["call"] and run.execution.breakpoint is None
    else:
        assert not decision.dispatch and run.execution.breakpoint == {
            "node": "call",
            "run": 1,
            "reason": stops,
            "input": [{**item, "doubled": item["n"] * 2} for item in trigger],
        }


def test_outcomes_and_timers_while_paused_are_recorded_but_nothing_new_starts() -> None:
    g = graph(
        [n("start", "manual_trigger"), call("a"), n("pause", "wait", seconds=5), n("b", "noop")],
        [("start", "a"), ("start", "pause"), ("pause", "b")],
    )
    run = debug_run(g, breakpoints=["b"])
    started = run.on(Started())
    assert started.dispatch == ["a"] and run.execution.status == "waiting"
    run.on(TimerFired("wake", "pause", 1), at(5))
    assert run.execution.status == "paused" and run.execution.breakpoint is not None
    run.done("a")  # the other branch's outcome lands while paused: recorded, and the run stays paused
    assert run.status()["a"] == "succeeded" and run.execution.status == "paused"
    run.on(DebugReleased(step=False))
    assert run.execution.status == "succeeded"


def test_the_operator_s_commands_need_a_paused_run_and_debug_names_real_nodes() -> None:
    run = debug_run(CHAIN)
    run.on(Started())
    with pytest.raises(Conflict, match="not paused at a breakpoint"):
        run.on(DebugReleased(step=False))
    with pytest.raises(Conflict):
        run.on(DebugInputEdited([{}]))
    with pytest.raises(InvalidInput, match="nope"):
        checked_debug({"breakpoints": ["nope"], "conditions": {}}, set(CHAIN.nodes))
    with pytest.raises(InvalidInput, match="not a valid expression"):
        checked_debug({"breakpoints": [], "conditions": {"calc": "{{ item. }}"}}, set(CHAIN.nodes))
    bare = checked_debug({"conditions": {"calc": "item.n > 3"}}, set(CHAIN.nodes))
    assert bare == {"breakpoints": [], "conditions": {"calc": "{{ item.n > 3 }}"}}


def test_a_run_not_started_in_debug_mode_never_stops() -> None:
    run = Run.of(CHAIN)
    assert run.on(Started()).dispatch == ["call"] and run.execution.breakpoint is None
