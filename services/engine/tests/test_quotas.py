"""Quotas per project in the engine (one process, SQLite; a run calling a server that never answers stays under
way): a start beyond a quota is refused naming it, other projects go on, usage is what the read model holds,
and a run's stored bytes count its large bodies at their size."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flowtape.common.errors import RateLimited
from flowtape.common.messages import engine as msg
from flowtape.common.settings import Settings
from flowtape.common.views import ProjectQuotas, ProjectUsage
from services.engine.tests.test_engine import Platform, chain, node, platform


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = Settings(data_dir=tmp_path, database_url=None, egress_allow="127.0.0.1", _env_file=None)  # type: ignore[call-arg]
    async with platform(settings) as running:
        yield running


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections and never answers: a run calling it stays under way."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        yield f"http://127.0.0.1:{silent.getsockname()[1]}/"


async def _workflow(engine: Platform, project: str, *nodes: dict[str, object]) -> str:
    made = await engine.ask(msg.CreateWorkflow(definition=chain(f"in {project}", *nodes), project_id=project))
    return str(made["id"])


async def _quotas(engine: Platform, project: str, **limits: int) -> ProjectUsage:
    answer = await engine.ask(msg.SetProjectQuotas(project_id=project, quotas=ProjectQuotas(**limits)))  # type: ignore[arg-type]
    return ProjectUsage.model_validate(answer)


async def test_runs_beyond_the_days_quota_are_refused_naming_it_and_other_projects_go_on(engine: Platform) -> None:
    limited = await _workflow(engine, "a", node("s", "set", fields={"x": 1}))
    other = await _workflow(engine, "b", node("s", "set", fields={"x": 1}))
    await _quotas(engine, "a", executions_per_day=2)
    first = await engine.run(limited)
    await engine.run(limited)
    with pytest.raises(RateLimited, match="executions per day") as refused:
        await engine.start(limited)
    assert refused.value.details is not None and refused.value.details["quota"] == "executions_per_day"
    with pytest.raises(RateLimited, match="executions per day"):  # a replay is a new run of the project too
        await engine.ask(msg.ReplayExecution(execution_id=first["id"], from_node="s"))
    for _ in range(3):
        assert (await engine.run(other))["status"] == "succeeded"

    usage = ProjectUsage.model_validate(await engine.ask(msg.GetProjectUsage(project_id="a")))
    assert usage.usage.executions_today == 2 and usage.quotas.executions_per_day == 2
    raised = await _quotas(engine, "a", executions_per_day=3)
    assert raised.quotas.executions_per_day == 3
    assert (await engine.run(limited))["status"] == "succeeded"


async def test_concurrent_runs_are_counted_while_under_way(engine: Platform, silent_server: str) -> None:
    hanging = await _workflow(engine, "c", node("call", "http_request", url=silent_server, timeout=60))
    await _quotas(engine, "c", concurrent_runs=2)
    started = [await engine.start(hanging) for _ in range(2)]
    with pytest.raises(RateLimited, match="concurrent runs"):
        await engine.start(hanging)
    usage = ProjectUsage.model_validate(await engine.ask(msg.GetProjectUsage(project_id="c")))
    assert usage.usage.concurrent_runs == 2
    await engine.ask(msg.CancelExecution(execution_id=started[0]["execution_id"], reason="make room"))
    await engine.finished(started[0]["execution_id"])
    assert (await engine.start(hanging))["status"] == "running"


async def test_stored_bytes_count_large_bodies_and_a_project_over_its_quota_starts_nothing(engine: Platform) -> None:
    workflow = await _workflow(engine, "d", node("s", "set", fields={"x": 1}))
    body = "x" * 200_000  # above the 64 KiB that moves an event's body to the blob store
    await engine.run(workflow, [{"body": body}])
    usage = ProjectUsage.model_validate(await engine.ask(msg.GetProjectUsage(project_id="d")))
    assert usage.usage.stored_bytes >= 200_000
    assert ProjectUsage.model_validate(await engine.ask(msg.GetProjectUsage(project_id="e"))).usage.stored_bytes == 0

    await _quotas(engine, "d", stored_bytes=100_000)
    with pytest.raises(RateLimited, match="stored execution data"):
        await engine.start(workflow)
    await _quotas(engine, "d")  # no quotas: no limit
    assert (await engine.run(workflow))["status"] == "succeeded"
