"""End to end: retention prunes finished runs by global and per-workflow policy (issue 14, item 9).

The services run as separate processes on PostgreSQL; the events table and the blob table are counted
before and after, so the log is seen to shrink, not only the API to answer differently.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.infra import FLOWTAPE, Platform, free_port, running_platform, set_up_admin, wait_ready


def flaky(name: str, retention: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run fails when its item says ``fail``, succeeds otherwise."""
    definition: dict[str, Any] = {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "check", "type": "if", "params": {"condition": "{{ item.fail }}"}},
            {"id": "boom", "type": "stop_and_error", "params": {"message": "asked to fail"}},
            {"id": "fine", "type": "set", "params": {"fields": {"ok": True}}},
        ],
        "edges": [
            {"from": "start", "to": "check"},
            {"from": "check", "port": "true", "to": "boom"},
            {"from": "check", "port": "false", "to": "fine"},
        ],
    }
    if retention is not None:
        definition["settings"] = {"retention": retention}
    return definition


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform whose global policy prunes every finished run at once (days 0), failed ones after 30 days;
    the periodic pass is off so that only the test decides when pruning happens."""
    workdir = tmp_path_factory.mktemp("retention")
    env = {
        "FLOWTAPE_RETENTION_DAYS": "0",
        "FLOWTAPE_RETENTION_FAILED_DAYS": "30",
        "FLOWTAPE_RETENTION_INTERVAL_SECONDS": "0",
        "FLOWTAPE_RETENTION_ARCHIVE": f"file://{workdir / 'archive'}",
    }
    with running_platform(workdir, "flowtape-keep", "flowtape_keep", env) as platform:
        yield platform


def _archived(platform: Platform, workflow_id: str, execution_id: str) -> list[dict[str, Any]]:
    path = platform.workdir / "archive" / workflow_id / f"{execution_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _events_of(database_url: str, ids: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM engine.executions_events WHERE originator_id = ANY(%s::uuid[])", (ids,)
        ).fetchone()
    return int(row[0]) if row else 0


def _blobs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM engine.executions_blobs").fetchone()
    return int(row[0]) if row else 0


def _run(api: httpx.Client, workflow_id: str, item: dict[str, Any]) -> str:
    response = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [item]})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_retention_prunes_by_policy_and_keeps_failed_runs(kept: Platform) -> None:
    assert kept.admin is not None
    with httpx.Client(base_url=kept.gateway, headers=kept.admin.headers, timeout=60) as api:
        # a policy that is not one is refused with the error shape
        response = api.post("/api/v1/workflows", json=flaky(f"bad-{uuid.uuid4().hex[:6]}", {"days": "soon"}))
        assert response.status_code == 422 and "settings.retention.days" in response.text, response.text

        # a workflow of its own policy: the newest 2 runs, failed ones 30 days, no age limit on the rest
        response = api.post(
            "/api/v1/workflows",
            json=flaky(f"keep-{uuid.uuid4().hex[:6]}", {"days": None, "runs": 2, "failed_days": 30}),
        )
        assert response.status_code == 201, response.text
        own = response.json()["id"]
        # a workflow under the global policy: every finished run past 0 days, failed ones kept 30 days
        response = api.post("/api/v1/workflows", json=flaky(f"global-{uuid.uuid4().hex[:6]}"))
        assert response.status_code == 201, response.text
        plain = response.json()["id"]

        own_ok = [_run(api, own, {"fail": False, "i": i}) for i in range(5)]
        own_failed = [_run(api, own, {"fail": True, "i": i}) for i in range(2)]
        big = "x" * 200_000  # past the offload threshold: its trigger event lives in the blob store
        plain_ok = [_run(api, plain, {"fail": False, "i": i, "big": big + str(i)}) for i in range(3)]
        plain_failed = [_run(api, plain, {"fail": True, "i": 0})]

        expected = set(own_ok[:3] + plain_ok)  # the own workflow's 3 oldest successes, every global success
        everything = own_ok + own_failed + plain_ok + plain_failed
        before = _events_of(kept.database_url, sorted(expected))
        blobs_before = _blobs(kept.database_url)
        assert before > 0 and blobs_before >= 3
        total_before = _events_of(kept.database_url, everything)

        # only an admin may prune
        operator_email = f"op-{uuid.uuid4().hex[:6]}@flowtape.test"
        response = api.post(
            "/api/v1/users", json={"email": operator_email, "password": "a long password 1", "role": "operator"}
        )
        assert response.status_code == 201, response.text
        token = api.post("/api/v1/auth/login", json={"email": operator_email, "password": "a long password 1"}).json()
        response = httpx.post(
            f"{kept.gateway}/api/v1/admin/retention/run",
            json={"dry_run": True},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"

        # the dry run names them and removes nothing
        response = api.post("/api/v1/admin/retention/run", json={"dry_run": True})
        assert response.status_code == 200, response.text
        plan = response.json()
        assert set(plan["execution_ids"]) == expected and plan["runs"] == len(expected)
        assert plan["by_status"] == {"succeeded": len(expected)} and plan["dry_run"] is True
        assert _events_of(kept.database_url, everything) == total_before

        # the CLI's dry run says the same
        env = {"FLOWTAPE_URL": kept.gateway, "FLOWTAPE_TOKEN": kept.admin.token, "PATH": "/usr/bin:/bin"}
        shown = subprocess.run(
            [FLOWTAPE, "admin", "retention", "--dry-run"], env=env, capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0, shown.stderr
        assert set(line for line in shown.stdout.split() if line in expected) == expected
        assert f"{len(expected)} runs would be pruned" in shown.stdout

        logs_before = {i: api.get(f"/api/v1/executions/{i}/events").json()["items"] for i in sorted(expected)}

        # the real run, through the CLI with its progress bar
        done = subprocess.run([FLOWTAPE, "admin", "retention"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"pruned {len(expected)} runs" in done.stdout
        assert _events_of(kept.database_url, sorted(expected)) == 0
        kept_ids = [i for i in everything if i not in expected]
        assert _events_of(kept.database_url, kept_ids) == total_before - before
        assert _blobs(kept.database_url) <= blobs_before - 3

        # each pruned run was archived first, its whole log in one JSON-lines file (the big trigger included)
        for execution_id, events in logs_before.items():
            workflow_id = plain if execution_id in plain_ok else own
            [header, *archived_events] = _archived(kept, workflow_id, execution_id)
            assert header["execution"]["id"] == execution_id and header["execution"]["status"] == "succeeded"
            assert archived_events == events
        assert _archived(kept, plain, plain_ok[0])[1]["data"]["trigger"][0]["big"] == big + "0"

        # a pruned run still answers its summary, marked; its log and time travel say it was pruned
        pruned = api.get(f"/api/v1/executions/{plain_ok[0]}").json()
        assert pruned["pruned"] is True and pruned["status"] == "succeeded" and pruned["workflow_id"] == plain
        assert pruned["finished_at"] and pruned["pruned_at"] and pruned["nodes"] == {}
        for path in (f"/api/v1/executions/{plain_ok[0]}/events", f"/api/v1/executions/{plain_ok[0]}/state?at=1"):
            response = api.get(path)
            assert response.status_code == 410, response.text
            assert response.json()["error"]["code"] == "pruned" and "pruned" in response.json()["error"]["message"]
        listed = {
            item["id"]: item for item in api.get("/api/v1/executions", params={"workflow_id": plain}).json()["items"]
        }
        assert set(listed) == set(plain_ok + plain_failed)
        assert all(listed[i]["pruned"] for i in plain_ok) and not listed[plain_failed[0]]["pruned"]

        # kept runs are whole: failed ones within failed_days, the own workflow's newest 2 successes
        for execution_id in own_failed + plain_failed + own_ok[3:]:
            kept_run = api.get(f"/api/v1/executions/{execution_id}").json()
            assert kept_run["pruned"] is False and kept_run["nodes"], kept_run
        failed = api.get(f"/api/v1/executions/{plain_failed[0]}").json()
        assert failed["status"] == "failed" and "asked to fail" in (failed["error"] or "")

        # a rebuild of the read models keeps the pruned summaries (their log is gone, their row is all there is)
        assert api.post("/api/v1/admin/projections/rebuild").status_code == 202
        deadline = time.monotonic() + 60
        while api.get("/api/v1/admin/projections").json()["state"] != "done":
            assert time.monotonic() < deadline, "the rebuild did not finish within a minute"
            time.sleep(0.3)
        rebuilt = {
            item["id"]: item for item in api.get("/api/v1/executions", params={"workflow_id": plain}).json()["items"]
        }
        assert rebuilt == listed

        # nothing is left to prune: a second pass removes nothing
        again = api.post("/api/v1/admin/retention/run", json={"dry_run": False}).json()
        assert again["runs"] == 0 and again["events"] == 0


def test_a_run_is_pruned_only_once_its_archive_is_written(kept: Platform) -> None:
    assert kept.admin is not None
    with httpx.Client(base_url=kept.gateway, headers=kept.admin.headers, timeout=60) as api:
        workflow_id = api.post("/api/v1/workflows", json=flaky(f"archived-{uuid.uuid4().hex[:6]}")).json()["id"]
        runs = [_run(api, workflow_id, {"fail": False, "i": i}) for i in range(2)]
        blocker = kept.workdir / "archive" / workflow_id
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("a file where the workflow's archive folder goes: every write there fails")

        refused = api.post("/api/v1/admin/retention/run", json={"dry_run": False}).json()
        assert sorted(failure["execution_id"] for failure in refused["archive_failed"]) == sorted(runs)
        assert not set(runs) & set(refused["execution_ids"])
        for execution_id in runs:  # not archived, so not pruned: the log is whole
            events = api.get(f"/api/v1/executions/{execution_id}/events")
            assert events.status_code == 200 and events.json()["items"][-1]["type"] == "ExecutionSucceeded"
        assert _events_of(kept.database_url, runs) > 0

        blocker.unlink()
        done = api.post("/api/v1/admin/retention/run", json={"dry_run": False}).json()
        assert sorted(done["execution_ids"]) == sorted(runs) and done["archive_failed"] == []
        assert _events_of(kept.database_url, runs) == 0
        assert all(
            _archived(kept, workflow_id, execution_id)[0]["execution"]["id"] == execution_id for execution_id in runs
        )


def _sqlite_events_of(data_dir: Path, ids: list[str]) -> int:
    [path] = [p for p in data_dir.rglob("*.events.db")]
    with sqlite3.connect(path) as conn:
        marks = ", ".join("?" * len(ids))
        # embedded, both logs share eventsourcing's one table, ids stored as 32 hex digits
        hexes = [uuid.UUID(i).hex for i in ids]
        row = conn.execute(f"SELECT count(*) FROM stored_events WHERE originator_id IN ({marks})", hexes).fetchone()
    return int(row[0])


def test_embedded_prunes_on_its_own_schedule(tmp_path: Path) -> None:
    """On SQLite (``flowtape up``), the engine's periodic pass applies the global policy by itself."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}
    env.update(
        FLOWTAPE_RETENTION_RUNS="1", FLOWTAPE_RETENTION_FAILED_DAYS="30", FLOWTAPE_RETENTION_INTERVAL_SECONDS="1"
    )
    with (tmp_path / "embedded.log").open("ab") as log:
        process = subprocess.Popen(
            [FLOWTAPE, "up", "--data-dir", str(data_dir), "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process=process)
            admin = set_up_admin(url)
            with httpx.Client(base_url=url, headers=admin.headers, timeout=60) as api:
                response = api.post("/api/v1/workflows", json=flaky(f"embedded-{uuid.uuid4().hex[:6]}"))
                assert response.status_code == 201, response.text
                workflow_id = response.json()["id"]
                ok = [_run(api, workflow_id, {"fail": False, "i": i}) for i in range(3)]
                failed = _run(api, workflow_id, {"fail": True})
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if all(api.get(f"/api/v1/executions/{i}").json()["pruned"] for i in ok[:2]):
                        break
                    time.sleep(0.5)
                else:
                    raise AssertionError("the periodic pass did not prune the two older runs within a minute")
                assert _sqlite_events_of(data_dir, ok[:2]) == 0
                assert _sqlite_events_of(data_dir, [ok[2], failed]) > 0
                for execution_id in (ok[2], failed):
                    assert api.get(f"/api/v1/executions/{execution_id}").json()["pruned"] is False
                response = api.get(f"/api/v1/executions/{ok[0]}/events")
                assert response.status_code == 410 and response.json()["error"]["code"] == "pruned"
        finally:
            process.terminate()
            process.wait(timeout=30)
