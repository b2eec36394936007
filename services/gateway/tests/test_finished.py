"""Waiting for a run's finish notice: caught however early it comes, and nothing kept for nobody."""

from __future__ import annotations

import asyncio

from flowtape.common.messages.engine import ExecutionFinished
from flowtape.gateway.finished import FinishedExecutions


def notice(execution_id: str) -> ExecutionFinished:
    return ExecutionFinished(workflow_id="w", execution_id=execution_id, workflow_version=1, status="succeeded")


async def test_a_notice_that_comes_before_the_engine_answers_the_start_is_caught() -> None:
    finished = FinishedExecutions()
    with finished.expect("run-1") as future:
        await finished.on_finished(notice("run-1"))  # the engine's reply is still on its way
        got = await asyncio.wait_for(future, 1)
    assert got.execution_id == "run-1"


async def test_notices_nobody_here_waits_for_are_not_kept() -> None:
    finished = FinishedExecutions()
    for n in range(1000):
        await finished.on_finished(notice(f"run-{n}"))
    with finished.expect("run-1") as future:
        assert not future.done()  # an old notice is not mistaken for the new wait's answer
    assert finished.waiting() == 0


async def test_two_waits_on_one_run_both_get_the_notice_and_leave_nothing_behind() -> None:
    finished = FinishedExecutions()
    with finished.expect("run-1") as first, finished.expect("run-1") as second:
        await finished.on_finished(notice("run-1"))
        assert (await first).execution_id == (await second).execution_id == "run-1"
    assert finished.waiting() == 0
