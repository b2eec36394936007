"""End to end: several engine replicas share the executions, and killing replicas loses none (issue 9).

Three engine processes on one RabbitMQ vhost and PostgreSQL database each decide the partitions they hold a
lease on. 300 runs, each a short wait and an ``http_request`` carrying its idempotency key to a local server;
two replicas are killed with SIGKILL one after the other while the runs wait, and one is started again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FakeApi, Platform, running_platform, until, wait_ready
from tests.workflows import waits_then_calls

#: timed against a steady load and the clock: alone on the machine, after the parallel part (see the Makefile)
pytestmark = pytest.mark.serial
RUNS = 300


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("replicas")
    with running_platform(workdir, "flowtape-replicas", "flowtape_replicas") as platform:
        for name in ("engine-2", "engine-3"):
            platform.start("engine", name=name)
        for name in ("engine-2", "engine-3"):
            wait_ready(platform.processes[name].url, process=platform.processes[name].popen)
        yield platform


@pytest.fixture(scope="module")
def api(replicated: Platform) -> Iterator[httpx.Client]:
    assert replicated.admin is not None
    with httpx.Client(base_url=replicated.gateway, timeout=60, headers=replicated.admin.headers) as client:
        yield client


def owners(replicated: Platform) -> dict[str, int]:
    """How many partitions each live engine replica says it holds (its /metrics gauge)."""
    held = {}
    for name, process in replicated.processes.items():
        if not name.startswith("engine") or process.popen.poll() is not None:
            continue
        metrics = httpx.get(f"{process.url}/metrics", timeout=10).text
        line = next(line for line in metrics.splitlines() if line.startswith("flowtape_engine_partitions_owned "))
        held[name] = int(float(line.split()[1]))
    return held


def shared_by(replicated: Platform, replicas: int) -> dict[str, int] | None:
    """The partitions each replica holds, once ``replicas`` live replicas hold all of them in fair shares."""
    held = owners(replicated)
    fair = -(-32 // replicas)
    if len(held) == replicas and sum(held.values()) == 32 and max(held.values()) <= fair:
        return held
    return None


def test_partitions_are_shared_by_the_live_replicas(replicated: Platform) -> None:
    held = until(lambda: shared_by(replicated, 3), 60)
    assert sorted(held.values()) == [10, 11, 11], f"unfair shares: {held}"


def test_killing_two_replicas_mid_run_loses_no_run_and_duplicates_no_effect(
    replicated: Platform, api: httpx.Client
) -> None:
    with FakeApi() as server:
        response = api.post("/api/v1/workflows", json=waits_then_calls(server.url))
        assert response.status_code == 201, response.text
        workflow_id = response.json()["id"]

        def start(n: int) -> str:
            started = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"n": n}]})
            assert started.status_code == 202, started.text
            return str(started.json()["execution_id"])

        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = list(pool.map(start, range(RUNS)))
        replicated.stop("engine", kill=True)
        time.sleep(2)
        replicated.stop("engine-2", kill=True)
        time.sleep(1)
        restarted = replicated.start("engine")
        wait_ready(restarted.url, process=restarted.popen)

        def all_finished() -> list[dict[str, Any]] | None:
            answers = [api.get(f"/api/v1/executions/{execution_id}") for execution_id in ids]
            if any(answer.status_code != 200 for answer in answers):
                return None  # a read served while replicas die and take over: ask again
            views = [answer.json() for answer in answers]
            done = [v for v in views if v["status"] in ("succeeded", "failed", "cancelled")]
            return views if len(done) == RUNS else None

        views = until(all_finished, 180)
        effects = dict(server.effects)

    failed = [(v["id"], v["status"], v.get("error")) for v in views if v["status"] != "succeeded"]
    assert not failed, f"{len(failed)} runs did not succeed: {failed[:5]}"
    keys = {f"{execution_id}:call:1" for execution_id in ids}
    assert set(effects) == keys, "every run's call reached the server, under its own key"
    duplicated = {key: count for key, count in effects.items() if count != 1}
    assert not duplicated, f"idempotency keys that reached the server more than once: {duplicated}"
    for execution_id in ids:
        events = api.get(f"/api/v1/executions/{execution_id}/events").json()["items"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        kinds = [e["type"] for e in events]
        assert kinds.count("ExecutionStarted") == 1 and kinds[-1] == "ExecutionSucceeded", kinds
        scheduled = [e for e in events if e["type"] == "NodeScheduled" and e["data"]["node_id"] == "call"]
        assert len(scheduled) == 1, f"two writers scheduled the call of {execution_id}: {kinds}"
    survivors = until(lambda: shared_by(replicated, 2), 60)
    assert set(survivors) == {"engine", "engine-3"}
