"""Queued runs and the pause of runs (the kill switch) in the decider: a queued run does nothing until admitted,
and a paused workflow's run records what arrives but starts nothing new until the pause is lifted."""

from __future__ import annotations

from dataclasses import replace

from flowtape.engine.domain.decider import Admitted, Continue, Started, TaskCompleted
from services.engine.tests.test_decider import NOW, Run, at, call, graph, n

TWO_CALLS = graph(
    [n("start", "manual_trigger"), call("first"), call("second")],
    [("start", "first"), ("first", "second")],
)
PAUSED = replace(at(), paused=frozenset({"wf"}))


def test_a_queued_run_starts_nothing_until_it_is_admitted_once() -> None:
    run = Run.of(TWO_CALLS)
    run.execution.queue("the workflow runs at most 1 at once (settings.max_concurrent_runs)")
    assert not run.on(Started()).dispatch and run.execution.status == "queued"
    assert not run.on(Continue()).dispatch  # a restart resumes it: still queued
    admitted = run.on(Admitted())
    assert run.events()[0] == "ExecutionAdmitted" and admitted.dispatch == ["first"]
    assert run.execution.status == "running"
    assert run.on(Admitted()).ignored  # the admission sent again changes nothing


def test_a_pause_holds_the_run_at_its_next_decision_and_a_resume_releases_it() -> None:
    run = Run.of(TWO_CALLS)
    assert run.on(Started()).dispatch == ["first"]
    held = run.on(TaskCompleted("first", 1, NOW, True, {"main": [{"done": 1}]}), PAUSED)
    assert run.events() == ["NodeStarted", "NodeSucceeded", "ExecutionHeld"] and not held.dispatch
    assert run.status()["first"] == "succeeded" and run.execution.status == "paused"
    assert not run.on(Continue(), PAUSED).dispatch and run.events() == []  # held once, not again
    other_paused = replace(at(), paused=frozenset({"another-workflow"}))
    assert run.on(Continue(), other_paused).dispatch == ["second"]
    assert run.events()[0] == "ExecutionReleased" and run.execution.status == "running"


def test_a_pause_of_all_workflows_holds_every_run() -> None:
    run = Run.of(TWO_CALLS)
    assert not run.on(Started(), replace(at(), paused=frozenset({"*"}))).dispatch
    assert run.execution.held and run.execution.status == "paused"
    assert run.on(Continue()).dispatch == ["first"]
