"""The shipped dashboards, proven with data: a real Prometheus (Debian's package) scrapes the services, as
separate processes, and RabbitMQ's own endpoint while a small load runs; then every panel's query of every
dashboard is evaluated through Prometheus's HTTP API, and one that returns no series fails the test."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import ROOT, FakeApi, Platform, free_port, running_platform

sys.path.insert(0, str(ROOT / "deploy" / "tools"))
from dashboard_check import queries

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RABBITMQ_METRICS = "127.0.0.1:15692"  # rabbitmq_prometheus, enabled by scripts/services.sh


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("dashboards")
    with running_platform(workdir, "flowtape-dash", "flowtape_dash") as platform:
        yield platform


@pytest.fixture(scope="module")
def prometheus(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install -y prometheus (scripts/system-packages.sh does)"
    try:
        httpx.get(f"http://{RABBITMQ_METRICS}/metrics", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise AssertionError(
            f"RabbitMQ's Prometheus endpoint does not answer ({exc}): rabbitmq-plugins enable rabbitmq_prometheus "
            "(scripts/services.sh does)"
        ) from exc
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    targets = [
        {"targets": [f"127.0.0.1:{process.port}"], "labels": {"service": name}}
        for name, process in platform.processes.items()
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "flowtape", "static_configs": targets},
            {"job_name": "rabbitmq", "static_configs": [{"targets": [RABBITMQ_METRICS]}]},
        ],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready in 60 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _create(api: httpx.Client, definition: dict[str, Any]) -> str:
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _hook(path: str, *after: dict[str, Any]) -> dict[str, Any]:
    nodes = [{"id": "hook", "type": "webhook", "params": {"path": path, "method": "POST", "respond": "last_node"}}]
    nodes += list(after)
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": f"dash-{path}", "nodes": nodes, "edges": edges}


def _send_poison(amqp_url: str) -> None:
    """A message no service understands: dead-lettered, so the dead-letter panels have data."""
    from flowtape.common.bus.rabbit import RabbitBus
    from flowtape.common.topology import COMMANDS

    async def send() -> None:
        bus = RabbitBus(amqp_url, service="test")
        await bus.start()
        try:
            await bus.publish_raw(COMMANDS, "engine.requests", b'{"type": "engine.Nonsense.v1", "body": {}}')
        finally:
            await bus.stop()

    asyncio.run(send())


def _load(platform: Platform, remote: FakeApi) -> None:
    """A small load with every outcome the panels show: successes, a failure, a retry, a schedule, a dead
    letter, webhook answers."""
    assert platform.admin is not None
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=platform.gateway, timeout=60, headers=platform.admin.headers) as api:
        ok = _create(
            api,
            _hook(
                f"ok-{tag}",
                {"id": "set", "type": "set", "params": {"fields": {"n": 1}}},
                {"id": "call", "type": "http_request", "params": {"method": "POST", "url": f"{remote.url}/echo"}},
            ),
        )
        failing = _create(
            api,
            _hook(f"bad-{tag}", {"id": "call", "type": "http_request", "params": {"url": f"{remote.url}/status/500"}}),
        )
        retried = {
            "id": "call",
            "type": "http_request",
            "params": {"url": f"{remote.url}/flaky/{tag}"},
            "retry": {"max_attempts": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 1},
        }
        retrying = _create(api, _hook(f"retry-{tag}", retried))
        schedule = _create(
            api,
            {
                "name": f"dash-tick-{tag}",
                "nodes": [
                    {"id": "tick", "type": "schedule", "params": {"interval": 1}},
                    {"id": "set", "type": "set", "params": {"fields": {"ticked": True}}},
                ],
                "edges": [{"from": "tick", "to": "set"}],
            },
        )
        for workflow_id in (ok, failing, retrying, schedule):
            assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200
        for _ in range(10):
            assert httpx.post(f"{platform.gateway}/hooks/ok-{tag}", json={}, timeout=60).status_code == 200
        for _ in range(2):
            httpx.post(f"{platform.gateway}/hooks/bad-{tag}", json={}, timeout=60)
        assert httpx.post(f"{platform.gateway}/hooks/retry-{tag}", json={}, timeout=60).status_code == 200
        assert httpx.post(f"{platform.gateway}/hooks/missing-{tag}", json={}, timeout=60).status_code == 404
        _send_poison(platform.amqp_url)
        time.sleep(4)  # a few schedule ticks
        assert api.post(f"/api/v1/workflows/{schedule}/deactivate").status_code == 200


def _series(prometheus: str, expr: str) -> int:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=30)
    body = response.json()
    assert body.get("status") == "success", f"{expr}: {body}"
    return len(body["data"]["result"])


@pytest.mark.timeout(600)
def test_every_panel_of_every_dashboard_shows_data(platform: Platform, prometheus: str) -> None:
    assert len(DASHBOARDS) >= 3, DASHBOARDS
    with FakeApi() as remote:
        _load(platform, remote)
    panels = [
        (path.name, title, expr)
        for path in DASHBOARDS
        for title, expr in queries(json.loads(path.read_text()), rate_interval="1m", range_="10m")
    ]
    assert len(panels) > 30
    empty: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + 90
    while True:
        empty = [(name, title, expr) for name, title, expr in panels if _series(prometheus, expr) == 0]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not empty, "panels without data:\n" + "\n".join(f"{n}: {t}: {e}" for n, t, e in empty)
