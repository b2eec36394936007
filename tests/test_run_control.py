"""End to end: controlling runs — debug runs with breakpoints, per-workflow concurrency limits, and the pause of
starts (the kill switch). The services are separate OS processes; this module has a platform of its own because
it kills and restarts the engine."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FLOWTAPE, Account, FakeApi, Platform, running_platform, wait_ready
from tests.test_durable import create, events_of, finished, until
from tests.test_replicas import shared_by

ENGINES = ("engine", "engine-2")


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The five services with two engine replicas: a workflow's runs are decided on both."""
    workdir: Path = tmp_path_factory.mktemp("control")
    with running_platform(workdir, "flowtape-control", "flowtape_control") as platform:
        second = platform.start("engine", name="engine-2")
        wait_ready(second.url, process=second.popen)
        until(lambda: shared_by(platform, 2), 60)
        yield platform


@pytest.fixture(scope="module")
def admin(control: Platform) -> Account:
    assert control.admin is not None
    return control.admin


@pytest.fixture(scope="module")
def api(control: Platform, admin: Account) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=control.gateway, timeout=60, headers=admin.headers) as client:
        yield client


def cli(control: Platform, admin: Account, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWTAPE_URL": control.gateway, "FLOWTAPE_TOKEN": admin.token}
    return subprocess.run([FLOWTAPE, *args], capture_output=True, text=True, env=env, timeout=120)


def restart_engines(control: Platform) -> None:
    for name in ENGINES:
        control.stop(name, kill=True)
    for name in ENGINES:
        engine = control.start("engine", name=name)
        wait_ready(engine.url, process=engine.popen)


def test_a_debug_run_pauses_survives_a_restart_and_is_stepped_with_edited_input(
    api: httpx.Client, control: Platform, admin: Account, fake_api: FakeApi
) -> None:
    workflow_id = create(
        api,
        {
            "name": "debugged",
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "calc", "type": "set", "params": {"fields": {"doubled": "{{ item.n * 2 }}"}}},
                {
                    "id": "send",
                    "type": "http_request",
                    "params": {
                        "method": "POST",
                        "url": f"{fake_api.url}/debugged",
                        "json": {"d": "{{ item.doubled }}"},
                    },
                },
                {"id": "end", "type": "set", "params": {"fields": {"done": True}}},
            ],
            "edges": [{"from": "start", "to": "calc"}, {"from": "calc", "to": "send"}, {"from": "send", "to": "end"}],
        },
    )
    bad = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"debug": {"breakpoints": ["nope"]}})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]

    started = cli(
        control,
        admin,
        "executions",
        "debug",
        "start",
        workflow_id,
        "--when",
        "send=item.doubled > 5",
        "--input",
        '{"n": 4}',
    )
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.strip()

    def paused() -> dict[str, Any] | None:
        execution = api.get(f"/api/v1/executions/{execution_id}").json()
        return execution if execution["status"] == "paused" else None

    execution = until(paused)
    assert execution["debug"]["paused_at"]["node"] == "send"
    assert execution["nodes"]["calc"]["output"] == [{"n": 4, "doubled": 8}]
    assert api.get("/api/v1/executions", params={"status": "paused"}).json()["items"][0]["id"] == execution_id
    reached = [e["data"] for e in events_of(api, execution_id) if e["type"] == "BreakpointReached"]
    # the stop records what send would run on: the operator sees it before editing it
    assert reached == [
        {
            "node_id": "send",
            "run": 1,
            "reason": "condition {{ item.doubled > 5 }} held for item 0",
            "input": [{"n": 4, "doubled": 8}],
        }
    ]
    assert execution["debug"]["paused_at"]["input"] == [{"n": 4, "doubled": 8}]

    restart_engines(control)  # paused is in the log: it stays paused
    assert until(paused)["debug"]["paused_at"]["node"] == "send"
    assert fake_api.counts["/debugged"] == 0

    edited = cli(control, admin, "executions", "debug", "input", execution_id, "--items", '{"doubled": 100}')
    assert edited.returncode == 0, edited.stderr
    stepped = cli(control, admin, "executions", "debug", "step", execution_id)
    assert stepped.returncode == 0, stepped.stderr
    execution = until(lambda: (e := paused()) and e["debug"]["paused_at"]["node"] == "end" and e)
    assert execution["nodes"]["send"]["input"] == [{"doubled": 100}]
    assert [json.loads(str(r["body"])) for r in fake_api.requests if r["path"] == "/debugged"] == [{"d": 100}]

    again = api.post(f"/api/v1/executions/{execution_id}/debug/input", json={"input": "not items"})
    assert again.status_code == 422
    assert cli(control, admin, "executions", "debug", "continue", execution_id).returncode == 0
    done = finished(api, execution_id)
    assert done["status"] == "succeeded" and done["output"][0]["done"] is True
    late = api.post(f"/api/v1/executions/{execution_id}/debug/step")
    assert late.status_code == 409 and late.json()["error"]["code"] == "conflict"


def http_steps(name: str, *urls: str, **settings: Any) -> dict[str, Any]:
    """manual_trigger, then one http_request GET per URL, in a chain."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "manual_trigger"}]
    for index, url in enumerate(urls):
        nodes.append({"id": f"call{index}", "type": "http_request", "params": {"method": "GET", "url": url}})
    ids = [node["id"] for node in nodes]
    edges = [{"from": a, "to": b} for a, b in itertools.pairwise(ids)]
    return {"name": name, "nodes": nodes, "edges": edges, "settings": settings}


def start(api: httpx.Client, workflow_id: str, n: int) -> str:
    started = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"n": n}]})
    assert started.status_code == 202, started.text
    return str(started.json()["execution_id"])


def status_of(api: httpx.Client, execution_id: str) -> str:
    return str(api.get(f"/api/v1/executions/{execution_id}").json()["status"])


def test_a_workflow_runs_at_most_its_limit_at_once_and_the_rest_start_in_order(
    api: httpx.Client, fake_api: FakeApi
) -> None:
    url = f"{fake_api.url}/concurrent/limited?n={{{{ item.n }}}}&seconds=1.5"
    workflow_id = create(api, http_steps("limited", url, max_concurrent_runs=2))
    bad = api.put(f"/api/v1/workflows/{workflow_id}", json=http_steps("limited", url, max_concurrent_runs=0))
    assert bad.status_code == 422 and "max_concurrent_runs" in bad.text

    ids = [start(api, workflow_id, 0)]
    time.sleep(0.4)
    ids += [start(api, workflow_id, n) for n in range(1, 6)]
    queued = api.get("/api/v1/executions", params={"workflow_id": workflow_id, "status": "queued"}).json()["items"]
    assert sorted(run["id"] for run in queued) == sorted(ids[2:])

    runs = [finished(api, execution_id, timeout=90) for execution_id in ids]
    assert [run["status"] for run in runs] == ["succeeded"] * 6
    assert fake_api.most_in_flight["limited"] == 2
    assert fake_api.arrivals["limited"] == [str(n) for n in range(6)]
    assert [e["type"] for e in events_of(api, ids[5])][:3] == [
        "ExecutionStarted",
        "ExecutionQueued",
        "ExecutionAdmitted",
    ]


def test_a_pause_holds_running_runs_and_queues_starts_until_resumed(
    api: httpx.Client, control: Platform, admin: Account, fake_api: FakeApi
) -> None:
    slow, fast = f"{fake_api.url}/concurrent/held?seconds=1.5", f"{fake_api.url}/concurrent/held-next?seconds=0"
    workflow_id = create(api, http_steps("paused", slow, fast))
    running = start(api, workflow_id, 1)
    until(lambda: fake_api.arrivals.get("held"))
    paused = api.post(f"/api/v1/workflows/{workflow_id}/pause")
    assert paused.status_code == 200 and paused.json() == {"all": False, "workflows": [workflow_id]}
    waiting = start(api, workflow_id, 2)
    assert status_of(api, waiting) == "queued"
    until(lambda: status_of(api, running) == "paused")  # the slow call came back: held before the next step
    time.sleep(1)
    assert fake_api.arrivals.get("held-next") is None and fake_api.arrivals["held"] == [""]
    assert "ExecutionHeld" in [e["type"] for e in events_of(api, running)]
    assert api.post("/api/v1/workflows/00000000-0000-0000-0000-000000000000/pause").status_code == 404

    resumed = cli(control, admin, "admin", "resume", "--workflow", workflow_id)
    assert resumed.returncode == 0 and "paused now: nothing" in resumed.stdout, resumed.stderr
    assert finished(api, running)["status"] == "succeeded" and finished(api, waiting)["status"] == "succeeded"

    assert cli(control, admin, "admin", "pause").returncode == 0  # every workflow
    assert api.get("/api/v1/admin/pause").json() == {"all": True, "workflows": []}
    later = start(api, workflow_id, 3)
    assert status_of(api, later) == "queued"
    waited = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true", "timeout": 1}, json={})
    assert waited.status_code == 504 and "it was queued" in waited.json()["error"]["message"]
    hook = create(
        api,
        {
            "name": "hooked",
            "nodes": [{"id": "hook", "type": "webhook", "params": {"path": "paused-hook", "respond": "immediately"}}],
        },
    )
    assert api.post(f"/api/v1/workflows/{hook}/activate").status_code == 200
    hooked = httpx.post(f"{control.gateway}/hooks/paused-hook", json={"n": 5}, timeout=30)
    assert hooked.status_code == 202 and hooked.json()["status"] == "queued", hooked.text
    assert api.post("/api/v1/admin/resume").json() == {"all": False, "workflows": []}
    assert finished(api, later)["status"] == "succeeded"
    assert finished(api, hooked.json()["execution_id"])["status"] == "succeeded"
    assert finished(api, waited.json()["error"]["details"]["execution_id"])["status"] == "succeeded"
