"""End to end: controlling runs — debug runs with breakpoints, per-workflow concurrency limits, and the pause of
starts (the kill switch). The services are separate OS processes; this module has a platform of its own because
it kills and restarts the engine."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FLOWTAPE, Account, FakeApi, Platform, running_platform, wait_ready
from tests.test_durable import create, events_of, finished, until


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("control")
    with running_platform(workdir, "flowtape-control", "flowtape_control") as platform:
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


def restart_engine(control: Platform) -> None:
    control.stop("engine", kill=True)
    engine = control.start("engine")
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
    assert reached == [{"node_id": "send", "run": 1, "reason": "condition {{ item.doubled > 5 }} held for item 0"}]

    restart_engine(control)  # paused is in the log: it stays paused
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
