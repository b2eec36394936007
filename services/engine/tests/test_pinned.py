"""Pinned outputs and recorded variables in the engine (one process, SQLite): a test run takes a pinned node's
output without evaluating it, a run that is no test ignores the pin; a run's variables are fixed at its start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowtape.common.messages import engine as msg
from flowtape.common.messages.pins import PinNodeOutput, UnpinNodeOutput
from flowtape.common.messages.variables import SetVariable
from flowtape.common.settings import Settings
from services.engine.tests.test_engine import FINISHED, Platform, chain, node, platform


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("pinned")
    settings = Settings(data_dir=data_dir, database_url=None, _env_file=None)  # type: ignore[call-arg]
    async with platform(settings) as running:
        yield running


async def _run(embedded: Platform, workflow_id: str, *, test: bool) -> dict[str, object]:
    started = await embedded.ask(msg.StartExecution(workflow_id=workflow_id, input=[{"n": 1}], test=test))
    return await embedded.until(started["execution_id"], lambda view: view["status"] in FINISHED)


async def test_a_test_run_takes_the_pinned_output_and_other_runs_evaluate_the_node(embedded: Platform) -> None:
    workflow_id = await embedded.create(
        chain("pins", node("double", "set", fields={"d": "{{ item.n * 2 }}"}), node("plus", "set", fields={"p": 1}))
    )
    view = await embedded.ask(PinNodeOutput(workflow_id=workflow_id, node_id="double", items=[{"d": 40}]))
    assert view["pinned"] == {"double": {"main": [{"d": 40}]}} and view["latest_version"] == 1

    tested = await _run(embedded, workflow_id, test=True)
    assert tested["test"] is True and tested["output"] == [{"d": 40, "p": 1}]
    events = [event["type"] for event in await embedded.events(str(tested["id"]))]
    assert "NodeCopied" in events, "the pinned node is recorded as copied, not evaluated"

    plain = await _run(embedded, workflow_id, test=False)
    assert plain["test"] is False and plain["output"] == [{"n": 1, "d": 2, "p": 1}]

    await embedded.ask(UnpinNodeOutput(workflow_id=workflow_id, node_id="double"))
    assert (await _run(embedded, workflow_id, test=True))["output"] == [{"n": 1, "d": 2, "p": 1}]


async def test_a_run_keeps_the_variables_it_started_with(embedded: Platform) -> None:
    workflow_id = await embedded.create(chain("vars", node("greet", "set", fields={"g": "{{ vars.GREETING }}"})))
    await embedded.ask(SetVariable(name="GREETING", value="hello"))
    first = await embedded.run(workflow_id)
    await embedded.ask(SetVariable(name="GREETING", workflow_id=workflow_id, value="overridden"))
    second = await embedded.run(workflow_id)

    assert first["output"] == [{"g": "hello"}] and second["output"] == [{"g": "overridden"}]
    again = await embedded.execution(str(first["id"]))
    assert again["variables"] == {"GREETING": "hello"} and again["output"] == [{"g": "hello"}]
