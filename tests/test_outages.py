"""End to end: RabbitMQ and PostgreSQL restart in the middle of runs; services reconnect, nothing is lost.

These restart the machine's shared servers, so they run last (see ``conftest.py``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FakeApi, Platform, running_platform

pytestmark = pytest.mark.disruptive


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("outages")
    with running_platform(workdir, "flowtape-outages", "flowtape_outages") as platform:
        yield platform


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[httpx.Client]:
    assert platform.admin is not None
    with httpx.Client(base_url=platform.gateway, timeout=30, headers=platform.admin.headers) as client:
        yield client


def _patiently(call: Any, timeout: float = 90.0) -> httpx.Response:
    """Call until the platform answers without a 5xx: clients of a recovering platform retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response: httpx.Response = call()
            if response.status_code < 500:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the platform did not recover in time")
        time.sleep(0.5)


def _start_runs(api: httpx.Client, workflow_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"n": n}]})
        assert response.status_code == 202, response.text
        ids.append(response.json()["execution_id"])
    return ids


def _all_finish(api: httpx.Client, ids: list[str], timeout: float = 180.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(ids):
        for execution_id in ids:
            if execution_id in results:
                continue
            execution = _patiently(lambda e=execution_id: api.get(f"/api/v1/executions/{e}")).json()
            if execution["status"] in ("succeeded", "failed", "cancelled"):
                results[execution_id] = execution
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(ids) - len(results)} executions never finished")
        time.sleep(0.5)
    return [results[execution_id] for execution_id in ids]


def _workflow(fake_api: FakeApi, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": 2}},
            {
                "id": "pay",
                "type": "http_request",
                "params": {
                    "method": "POST",
                    "url": f"{fake_api.url}/effect",
                    "json": {"n": "{{ item.n }}"},
                    "send_idempotency_key": True,
                },
                "retry": {"max_attempts": 5, "backoff_seconds": 1},
            },
            {"id": "done", "type": "set", "params": {"fields": {"done": True}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "pay"}, {"from": "pay", "to": "done"}],
    }


def _wait_ready(platform: Platform) -> None:
    for process in platform.processes.values():
        _patiently(lambda p=process: httpx.get(f"{p.url}/readyz", timeout=5))


def test_rabbitmq_restart_mid_run(api: httpx.Client, platform: Platform, fake_api: FakeApi) -> None:
    workflow_id = api.post("/api/v1/workflows", json=_workflow(fake_api, "through-broker-restart")).json()["id"]
    ids = _start_runs(api, workflow_id, 30)
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(3)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    _wait_ready(platform)
    results = _all_finish(api, ids)
    assert [r["status"] for r in results] == ["succeeded"] * 30, [r for r in results if r["status"] != "succeeded"][:1]
    assert all(r["output"][0]["done"] is True for r in results)
    after = _patiently(
        lambda: api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [{"n": 99}]})
    )
    assert after.status_code == 200 and after.json()["status"] == "succeeded"


def test_postgresql_restart_mid_run(api: httpx.Client, platform: Platform, fake_api: FakeApi) -> None:
    workflow_id = api.post("/api/v1/workflows", json=_workflow(fake_api, "through-database-restart")).json()["id"]
    ids = _start_runs(api, workflow_id, 30)
    cluster = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    _wait_ready(platform)
    results = _all_finish(api, ids)
    assert [r["status"] for r in results] == ["succeeded"] * 30, [r for r in results if r["status"] != "succeeded"][:1]
    listed = _patiently(lambda: api.get("/api/v1/executions", params={"workflow_id": workflow_id, "limit": 100}))
    assert sorted(item["id"] for item in listed.json()["items"]) == sorted(ids)
    assert {item["status"] for item in listed.json()["items"]} == {"succeeded"}
