"""End to end: hostile code nodes on the distributed platform (five OS processes, connectors as root) and on
the embedded one (``flowtape up``), where issue 8 read the auth database under the data directory with an
editor's key and forged an admin token. Now the code sees none of it, and every bomb fails only its run."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import hostile_code, workflows
from tests.infra import ROOT, Platform
from tests.sandbox_hosts import SITE_PACKAGES, with_marker
from tests.test_embedded import Embedded

ISOLATED = "code nodes run isolated (FLOWTAPE_CODE_ISOLATION=namespaces)"


def run_code(api: httpx.Client, source: str, items: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    # a generous time limit unless the test sets one: these machines are shared and often busy
    definition = workflows.code(source, timeout_seconds=params.pop("timeout_seconds", 60), name="hostile")
    definition["nodes"][1]["params"].update(params)
    created = api.post("/api/v1/workflows", json=definition)
    assert created.status_code == 201, created.text
    response = api.post(f"/api/v1/workflows/{created.json()['id']}/run", params={"wait": "true"}, json={"input": items})
    assert response.status_code == 200, response.text
    return dict(response.json())


def output(execution: dict[str, Any]) -> dict[str, Any]:
    assert execution["status"] == "succeeded", execution["nodes"]["py"]["error"]
    return dict(execution["output"][0])


def assert_sees_nothing(api: httpx.Client, service_pid: int, private: list[str], secrets_held: list[str]) -> None:
    """The probes of issue 8 through a platform whose code nodes run in the service process ``service_pid``."""
    environ = output(run_code(api, hostile_code.ENVIRON, [{"service_pid": service_pid}]))
    assert environ["environ"][str(service_pid)] == "FileNotFoundError"
    for pid, text in environ["environ"].items():
        for secret in secrets_held:
            assert secret not in text, f"/proc/{pid}/environ holds a secret"
    assert environ["pids"] == [1, 2]

    files = output(run_code(api, hostile_code.FILES, [{"paths": private}]))
    assert {path: seen for path, seen in files["seen"].items() if seen not in ("absent", "PermissionError")} == {}

    imports = output(
        run_code(api, hostile_code.IMPORTS, [{"modules": ["cryptography", "joserfc"], "paths": [SITE_PACKAGES]}])
    )
    assert imports["imports"] == {"cryptography": "ModuleNotFoundError", "joserfc": "ModuleNotFoundError"}

    targets = [["127.0.0.1", 5432], ["127.0.0.1", 5672]]
    connect = output(run_code(api, hostile_code.CONNECT, [{"targets": targets}]))
    assert set(connect["connect"].values()) == {"ConnectionRefusedError"}


def test_code_node_sees_nothing_of_the_connectors(api: httpx.Client, platform: Platform) -> None:
    connectors = platform.processes["connectors"]
    private = [str(platform.workdir), str(platform.workdir / "data"), str(ROOT), sys.prefix, "/run", "/var/run"]
    held = [platform.secret_key, platform.amqp_url, platform.database_url, "FLOWTAPE_"]

    assert_sees_nothing(api, connectors.popen.pid, private, held)
    assert ISOLATED in connectors.log.read_text()
    metrics = httpx.get(f"{connectors.url}/metrics", timeout=10).text
    assert 'flowtape_code_isolation_usable{mode="namespaces"} 1.0' in metrics


def test_code_node_leaves_no_process_behind(api: httpx.Client) -> None:
    marker = f"0.{secrets.randbelow(10**12)}"

    execution = run_code(api, hostile_code.ESCAPE, [{"marker": marker}])

    assert output(execution) == {"running": 2}
    assert with_marker(marker) == []


@pytest.mark.parametrize("bomb", list(hostile_code.BOMBS))
def test_a_bomb_fails_its_run_and_the_connectors_carry_on(api: httpx.Client, platform: Platform, bomb: str) -> None:
    code, params, error = hostile_code.BOMBS[bomb]

    execution = run_code(api, code, [{}], **params)

    assert execution["status"] == "failed"
    assert execution["nodes"]["py"]["error"] == error
    assert httpx.get(f"{platform.processes['connectors'].url}/readyz", timeout=10).status_code == 200
    assert output(run_code(api, hostile_code.HEALTHY, [{"n": 1}])) == {"n": 2}


def test_javascript_code_node_sees_nothing_of_the_connectors(api: httpx.Client, platform: Platform) -> None:
    connectors = platform.processes["connectors"]
    marker = f"0.{secrets.randbelow(10**12)}"
    probe = {
        "service_pid": connectors.popen.pid,
        "paths": [str(platform.workdir), str(ROOT), sys.prefix, "/run"],
        "targets": [["127.0.0.1", 5432], ["127.0.0.1", 5672]],
        "marker": marker,
    }

    out = output(run_code(api, hostile_code.JAVASCRIPT, [probe], language="javascript"))

    assert out["environ"][str(connectors.popen.pid)] == "ENOENT"
    held = [platform.secret_key, platform.amqp_url, platform.database_url, "FLOWTAPE_"]
    assert not [pid for pid, text in out["environ"].items() if any(secret in text for secret in held)]
    assert out["seen"] == dict.fromkeys(probe["paths"], "absent")
    assert set(out["connected"].values()) == {"ECONNREFUSED"}
    assert out["running"] == 1 and with_marker(marker) == []


def test_a_javascript_bomb_fails_its_run_and_the_connectors_carry_on(api: httpx.Client, platform: Platform) -> None:
    code, params, error = hostile_code.JAVASCRIPT_BOMBS["fork bomb"]

    execution = run_code(api, code, [{}], language="javascript", **params)

    assert execution["status"] == "failed" and execution["nodes"]["py"]["error"] == error
    assert httpx.get(f"{platform.processes['connectors'].url}/readyz", timeout=10).status_code == 200
    healthy = "function run(items) { return items.map((item) => ({ n: item.n + 1 })); }"
    assert output(run_code(api, healthy, [{"n": 1}], language="javascript")) == {"n": 2}


def test_code_network_is_a_checked_workflow_setting_the_operator_must_allow(api: httpx.Client) -> None:
    definition = workflows.code(hostile_code.HEALTHY, name="networked")
    refused = api.post("/api/v1/workflows", json={**definition, "settings": {"code_network": "yes"}})
    assert refused.status_code == 422, refused.text
    assert "settings.code_network must be true or false" in refused.text

    created = api.post("/api/v1/workflows", json={**definition, "settings": {"code_network": True}})
    assert created.status_code == 201, created.text
    execution = api.post(
        f"/api/v1/workflows/{created.json()['id']}/run", params={"wait": "true"}, json={"input": [{"n": 1}]}
    ).json()
    assert execution["status"] == "failed"
    assert "FLOWTAPE_CODE_NETWORK=per_workflow" in execution["nodes"]["py"]["error"]


#: what issue 8 did in embedded mode: read the auth database (also through the service's /proc entries)
#: with the standard library's sqlite3, to decrypt the signing key and forge an admin token
FORGE = """
import os
import sqlite3

def run(items):
    database, pid = items[0]["database"], items[0]["service_pid"]
    attempts = {}
    for path in [database, f"/proc/{pid}/root{database}", f"/proc/1/root{database}", f"/proc/{pid}/cwd"]:
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            tables = connection.execute("select name from sqlite_master").fetchall()
            attempts[path] = "opened, tables: %s" % tables
        except sqlite3.Error as exc:
            attempts[path] = "refused: %s" % exc
    return [{"attempts": attempts, "exists": os.path.exists(database)}]
"""


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    platform = Embedded(tmp_path_factory.mktemp("embedded-hostile") / "data")
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


def test_embedded_code_node_cannot_read_the_auth_database(embedded: Embedded) -> None:
    assert embedded.process is not None
    database = embedded.data_dir.resolve() / "auth.db"
    assert database.exists()
    with httpx.Client(base_url=embedded.url, timeout=60, headers=embedded.headers) as admin:
        key = admin.post("/api/v1/api-keys", json={"name": "editor", "role": "editor"})
        assert key.status_code == 201, key.text
    with httpx.Client(base_url=embedded.url, timeout=60, headers={"X-API-Key": key.json()["key"]}) as editor:
        forged = output(run_code(editor, FORGE, [{"database": str(database), "service_pid": embedded.process.pid}]))
        assert forged["exists"] is False
        assert all(outcome.startswith("refused") for outcome in forged["attempts"].values()), forged

        private = [str(embedded.data_dir.resolve()), str(database), str(ROOT), sys.prefix]
        assert_sees_nothing(editor, embedded.process.pid, private, ["FLOWTAPE_"])
    assert ISOLATED in embedded.log.read_text()


def test_embedded_survives_a_fork_bomb(embedded: Embedded) -> None:
    code, params, error = hostile_code.BOMBS["fork bomb"]
    with httpx.Client(base_url=embedded.url, timeout=60, headers=embedded.headers) as api:
        execution = run_code(api, code, [{}], **params)
        assert execution["status"] == "failed" and execution["nodes"]["py"]["error"] == error
        assert output(run_code(api, hostile_code.HEALTHY, [{"n": 1}])) == {"n": 2}


def test_the_paths_probed_exist_on_the_host() -> None:
    """The probes above must find something absent that is really there."""
    assert Path(SITE_PACKAGES, "cryptography").is_dir() and Path(SITE_PACKAGES, "joserfc").is_dir()
    assert (ROOT / "pyproject.toml").exists() and Path(sys.prefix, "pyvenv.cfg").exists()
