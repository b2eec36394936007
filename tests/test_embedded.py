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
from tests.infra import FLOWTAPE, ROOT, Account, free_port, secrets_in_logs, set_up_admin, wait_ready


class Embedded:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin: Account | None = None
        self.log = data_dir.parent / "embedded.log"
        #: settings of its own (FLOWTAPE_*), beside the defaults of `flowtape up`
        self.env: dict[str, str] = {}

    @property
    def headers(self) -> dict[str, str]:
        assert self.admin is not None
        return self.admin.headers

    def cli_env(self) -> dict[str, str]:
        assert self.admin is not None
        return {**os.environ, "COLUMNS": "200", "FLOWTAPE_TOKEN": self.admin.token}

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")} | self.env
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [FLOWTAPE, "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url, process=self.process)
        if self.admin is None:
            self.admin = set_up_admin(self.url)

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
    leaked = secrets_in_logs([platform.log])
    assert not leaked, f"secrets found in the embedded platform's log: {leaked}"


def test_embedded_runs_the_branching_workflow(embedded: Embedded) -> None:
    with httpx.Client(base_url=embedded.url, timeout=30, headers=embedded.headers) as api:
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
    with httpx.Client(base_url=embedded.url, timeout=30, headers=embedded.headers) as api:
        workflow_id = api.post("/api/v1/workflows", json=workflows.chain(3, name="durable")).json()["id"]
        execution = api.post(
            f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [{"n": 1}]}
        ).json()
    embedded.stop()
    embedded.start()
    with httpx.Client(base_url=embedded.url, timeout=30, headers=embedded.headers) as api:
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
        env=embedded.cli_env(),
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
        env=embedded.cli_env(),
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


def test_embedded_secures_the_api_like_the_distributed_platform(embedded: Embedded) -> None:
    """Same rules in one process: 401 without credentials, roles, keys, CLI users and key rotation."""
    import secrets

    from tests.infra import login, remember_secret

    def cli(*args: str, stdin: str | None = None, token: bool = True) -> subprocess.CompletedProcess[str]:
        env = embedded.cli_env() if token else {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}
        return subprocess.run(
            [FLOWTAPE, *args, "--url", embedded.url], input=stdin, capture_output=True, text=True, timeout=60, env=env
        )

    assert httpx.get(f"{embedded.url}/api/v1/workflows").status_code == 401
    password = remember_secret(f"viewer-{secrets.token_urlsafe(12)}")
    created = cli(
        "admin",
        "create-user",
        "--email",
        "viewer@flowtape.test",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert created.returncode == 0, created.stderr
    refused = cli(
        "admin", "create-user", "--email", "x@flowtape.test", "--password-stdin", stdin=password + "\n", token=False
    )
    assert refused.returncode == 1 and "already set up" in refused.stderr and "FLOWTAPE_TOKEN" in refused.stderr

    signed_in = cli("login", "--email", "viewer@flowtape.test", "--password-stdin", stdin=password + "\n", token=False)
    assert signed_in.returncode == 0, signed_in.stderr
    viewer = {"Authorization": f"Bearer {remember_secret(signed_in.stdout.strip())}"}
    with httpx.Client(base_url=embedded.url, timeout=30) as api:
        assert api.get("/api/v1/workflows", headers=viewer).status_code == 200
        denied = api.post("/api/v1/workflows", json=workflows.chain(2), headers=viewer)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"

        key = api.post("/api/v1/api-keys", json={"name": "script", "role": "editor"}, headers=embedded.headers)
        assert key.status_code == 201
        as_key = {"X-API-Key": remember_secret(key.json()["key"])}
        assert api.post("/api/v1/workflows", json=workflows.chain(2, name="by-key"), headers=as_key).status_code == 201
        api.delete(f"/api/v1/api-keys/{key.json()['id']}", headers=embedded.headers)
        assert api.get("/api/v1/workflows", headers=as_key).status_code == 401

        rotated = cli("admin", "rotate-keys")
        assert rotated.returncode == 0, rotated.stderr
        assert api.get("/api/v1/workflows", headers=viewer).status_code == 200, "tokens from before still verify"
        assert embedded.admin is not None
        fresh = login(embedded.url, embedded.admin.email, embedded.admin.password)
        assert fresh.split(".")[0] != embedded.admin.token.split(".")[0], "a new key id signs new tokens"
        assert api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {fresh}"}).json()["role"] == "admin"
        actions = {e["action"] for e in api.get("/api/v1/audit", headers=embedded.headers).json()["items"]}
        assert {"keys.rotated", "api_key.revoked", "workflow.created", "user.created"} <= actions


def test_embedded_serves_the_console(embedded: Embedded) -> None:
    """`flowtape up` serves the console as the gateway does: its routes answer the page, the API keeps its 404s."""
    assert embedded.admin is not None
    with httpx.Client(base_url=embedded.url, timeout=30) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and '<div id="root">' in page.text
        assert browser.get("/executions/abc?at=2").text == page.text
        missing = browser.get("/api/v1/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        credentials = {"email": embedded.admin.email, "password": embedded.admin.password}
        csrf = browser.post("/api/v1/auth/session", json=credentials).json()["csrf_token"]
        assert browser.get("/api/v1/auth/me").json()["role"] == "admin"
        assert browser.post("/api/v1/api-keys", json={"name": "console"}).status_code == 403
        assert (
            browser.post("/api/v1/api-keys", json={"name": "console"}, headers={"X-CSRF-Token": csrf}).status_code
            == 201
        )
