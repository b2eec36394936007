"""End to end: the embedded mode (`flowtape up`), one process on SQLite, driven over HTTP and by the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import workflows
from tests.infra import FLOWTAPE, ROOT, free_port, wait_ready


class Embedded:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}
        log = (self.data_dir.parent / "embedded.log").open("ab")
        self.process = subprocess.Popen(
            [FLOWTAPE, "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    platform = Embedded(tmp_path_factory.mktemp("embedded") / "data")
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


def test_embedded_runs_the_branching_workflow(embedded: Embedded) -> None:
    with httpx.Client(base_url=embedded.url, timeout=30) as api:
        workflow = api.post("/api/v1/workflows", json=workflows.BRANCHING)
        assert workflow.status_code == 201, workflow.text
        workflow_id = workflow.json()["id"]
        for n, label in ((3, "small"), (30, "big")):
            execution = api.post(
                f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [{"n": n}]}
            ).json()
            assert execution["status"] == "succeeded"
            assert execution["output"] == [{"n": n, "doubled": 2 * n, "label": label}]
        code = api.post("/api/v1/workflows", json=workflows.code("def run(items):\n    return [{'ok': len(items)}]"))
        execution = api.post(
            f"/api/v1/workflows/{code.json()['id']}/run", params={"wait": "true"}, json={"input": [{}, {}]}
        ).json()
        assert execution["output"] == [{"ok": 2}]


def test_embedded_keeps_its_data_across_restarts(embedded: Embedded) -> None:
    with httpx.Client(base_url=embedded.url, timeout=30) as api:
        workflow_id = api.post("/api/v1/workflows", json=workflows.chain(3, name="durable")).json()["id"]
        execution = api.post(
            f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [{"n": 1}]}
        ).json()
    embedded.stop()
    embedded.start()
    with httpx.Client(base_url=embedded.url, timeout=30) as api:
        assert api.get(f"/api/v1/workflows/{workflow_id}").json()["name"] == "durable"
        again = api.get(f"/api/v1/executions/{execution['id']}").json()
        assert again["status"] == "succeeded" and again["output"] == execution["output"]
        listed = api.get("/api/v1/executions", params={"workflow_id": workflow_id}).json()["items"]
        assert [e["id"] for e in listed] == [execution["id"]]


def test_cli_runs_a_workflow_file_and_shows_its_nodes(embedded: Embedded, tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(workflows.BRANCHING))
    result = subprocess.run(
        [FLOWTAPE, "run", str(path), "--input", '{"n": 30}', "--url", embedded.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert '"label": "big"' in result.stdout
    assert "skipped" in result.stdout and "succeeded" in result.stdout
    execution_id = result.stdout.split("execution ", 1)[1].split()[0]
    events = subprocess.run(
        [FLOWTAPE, "executions", "events", execution_id, "--url", embedded.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert events.returncode == 0 and "ExecutionStarted" in events.stdout and "ExecutionSucceeded" in events.stdout


def test_cli_explains_an_unreachable_platform() -> None:
    result = subprocess.run(
        [FLOWTAPE, "executions", "show", "x", "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "flowtape up" in result.stderr and "Traceback" not in result.stderr
