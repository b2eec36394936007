"""End to end: workflow lifecycle on the distributed platform (five OS processes, RabbitMQ, PostgreSQL).

Export and import (credentials by name, never their data; importing the same file twice changes nothing),
duplicate, tags and search, and the diff of two runs, through the API and the ``flowtape`` CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.infra import Platform, remember_secret


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _cli(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    assert platform.admin is not None
    env = {**os.environ, "FLOWTAPE_URL": platform.gateway, "FLOWTAPE_TOKEN": platform.admin.token}
    flowtape = Path(sys.executable).with_name("flowtape")
    return subprocess.run([str(flowtape), *args], capture_output=True, text=True, env=env, timeout=120)


def _calling_workflow(name: str, credential: str, tags: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "tags": tags,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "call",
                "type": "http_request",
                "params": {"method": "GET", "url": "http://127.0.0.1:9/never", "credential": credential},
            },
        ],
        "edges": [{"from": "start", "to": "call"}],
    }


def _branching_workflow(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "calc", "type": "set", "params": {"fields": {"doubled": "{{ item.n * 2 }}"}}},
            {"id": "check", "type": "if", "params": {"condition": "{{ item.n > 10 }}"}},
            {"id": "big", "type": "set", "params": {"fields": {"label": "big"}}},
            {"id": "small", "type": "set", "params": {"fields": {"label": "small"}}},
        ],
        "edges": [
            {"from": "start", "to": "calc"},
            {"from": "calc", "to": "check"},
            {"from": "check", "port": "true", "to": "big"},
            {"from": "check", "port": "false", "to": "small"},
        ],
    }


def test_export_names_credentials_and_import_is_idempotent(api: httpx.Client, platform: Platform) -> None:
    secret = remember_secret(f"secret-{uuid.uuid4().hex}")
    credential_name = _unique("export-key")
    credential = api.post(
        "/api/v1/credentials",
        json={"name": credential_name, "type": "http_header", "data": {"name": "X-Key", "value": secret}},
    )
    assert credential.status_code == 201, credential.text
    # the workflow names the credential by id: the export must name it by name
    created = api.post(
        "/api/v1/workflows", json=_calling_workflow(_unique("exported"), credential.json()["id"], ["crm", "nightly"])
    )
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert workflow["tags"] == ["crm", "nightly"]

    exported = api.get(f"/api/v1/workflows/{workflow['id']}/export")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert secret not in exported.text and credential.json()["id"] not in exported.text
    assert document["credentials"] == [{"name": credential_name, "type": "http_header"}]
    [entry] = document["workflows"]
    assert entry["id"] == workflow["id"]
    assert entry["definition"]["nodes"][1]["params"]["credential"] == credential_name

    first = api.post("/api/v1/workflows/import", json=document)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "items": [
            {
                "source_id": workflow["id"],
                "id": workflow["id"],
                "name": workflow["name"],
                "version": 2,  # the credential reference became its name: one new version
                "outcome": "updated",
            }
        ],
        "missing_credentials": [],
    }
    again = api.post("/api/v1/workflows/import", json=document).json()
    assert again["items"][0]["outcome"] == "unchanged" and again["items"][0]["version"] == 2
    versions = api.get(f"/api/v1/workflows/{workflow['id']}/versions").json()["items"]
    assert len(versions) == 2

    copy = api.post("/api/v1/workflows/import", params={"as_copy": "true"}, json=document).json()["items"][0]
    assert copy["outcome"] == "copied" and copy["id"] != workflow["id"]

    # into "another platform": an id this one never had, a credential it does not have, mapped on import
    elsewhere = {**document, "workflows": [{**entry, "id": str(uuid.uuid4())}]}
    elsewhere["workflows"][0]["definition"] = _calling_workflow(_unique("foreign"), "their-key", ["crm"])
    unmapped = api.post("/api/v1/workflows/import", json=elsewhere).json()
    assert unmapped["items"][0]["outcome"] == "created"
    assert unmapped["items"][0]["id"] == elsewhere["workflows"][0]["id"]
    assert unmapped["missing_credentials"] == ["their-key"]
    mapped = api.post("/api/v1/workflows/import", json={**elsewhere, "credentials_map": {"their-key": credential_name}})
    assert mapped.json()["missing_credentials"] == [] and mapped.json()["items"][0]["outcome"] == "updated"
    stored = api.get(f"/api/v1/workflows/{elsewhere['workflows'][0]['id']}").json()
    assert stored["nodes"][1]["params"]["credential"] == credential_name

    # a deleted workflow cannot come back under its id: importing it again makes a copy
    assert api.delete(f"/api/v1/workflows/{copy['id']}").status_code == 200
    revived = api.post("/api/v1/workflows/import", json={**document, "workflows": [{**entry, "id": copy["id"]}]}).json()
    assert revived["items"][0]["outcome"] == "copied" and revived["items"][0]["id"] != copy["id"]


def test_import_refuses_an_invalid_file_with_details(api: httpx.Client) -> None:
    wrong_format = api.post("/api/v1/workflows/import", json={"format": "something-else", "workflows": []})
    assert wrong_format.status_code == 422
    assert wrong_format.json()["error"]["details"]
    bad_node = {
        "workflows": [
            {"id": str(uuid.uuid4()), "definition": {"name": _unique("bad"), "nodes": [{"id": "x", "type": "nope"}]}}
        ]
    }
    refused = api.post("/api/v1/workflows/import", json=bad_node)
    assert refused.status_code == 422, refused.text
    assert "nope" in refused.text
    assert api.get("/api/v1/workflows/not-an-id/export").status_code == 404


def test_duplicate_tags_and_search(api: httpx.Client) -> None:
    tag = _unique("tag")
    name = _unique("Searchable")
    original = api.post("/api/v1/workflows", json={**_branching_workflow(name), "tags": [tag]}).json()
    other = api.post("/api/v1/workflows", json={**_branching_workflow(_unique("plain")), "tags": ["other"]}).json()
    duplicate = api.post(f"/api/v1/workflows/{original['id']}/duplicate")
    assert duplicate.status_code == 201, duplicate.text
    copy = duplicate.json()
    assert copy["id"] != original["id"] and copy["name"] == f"{name} (copy)"
    assert copy["tags"] == [tag] and copy["nodes"] == original["nodes"] and not copy["active"]
    named = api.post(f"/api/v1/workflows/{original['id']}/duplicate", json={"name": _unique("renamed")}).json()
    assert named["name"].startswith("renamed-")
    assert api.post(f"/api/v1/workflows/{uuid.uuid4()}/duplicate").status_code == 404

    def ids(**params: Any) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            page = api.get("/api/v1/workflows", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            found |= {item["id"] for item in page.json()["items"]}
            cursor = page.json()["next_cursor"]
            if not cursor:
                return found

    assert ids(tag=tag) == {original["id"], copy["id"], named["id"]}
    assert ids(name=name.lower()) == {original["id"], copy["id"]}
    assert ids(name=name, tag=tag) == {original["id"], copy["id"]}
    assert other["id"] in ids(node_type="if") and original["id"] in ids(node_type="if")
    assert original["id"] not in ids(node_type="http_request")
    listed = api.get("/api/v1/workflows", params={"tag": tag}).json()["items"]
    assert all(item["tags"] == [tag] for item in listed)


def test_cli_export_then_import(api: httpx.Client, platform: Platform, tmp_path: Path) -> None:
    workflow = api.post("/api/v1/workflows", json={**_branching_workflow(_unique("cli")), "tags": ["cli"]}).json()
    file = tmp_path / "export.json"
    exported = _cli(platform, "workflows", "export", workflow["id"], "--output", str(file))
    assert exported.returncode == 0, exported.stderr
    assert json.loads(file.read_text())["workflows"][0]["id"] == workflow["id"]
    imported = _cli(platform, "workflows", "import", str(file))
    assert imported.returncode == 0, imported.stderr
    assert "unchanged" in imported.stdout and workflow["id"] in imported.stdout
    bad = _cli(platform, "workflows", "import", str(file), "--credential", "no-equals-sign")
    assert bad.returncode == 1 and "OLD=NEW" in bad.stderr


def test_diff_of_two_runs_node_by_node(api: httpx.Client, platform: Platform) -> None:
    workflow = api.post("/api/v1/workflows", json=_branching_workflow(_unique("diffed"))).json()

    def run(n: int) -> dict[str, Any]:
        response = api.post(
            f"/api/v1/workflows/{workflow['id']}/run", params={"wait": "true"}, json={"input": [{"n": n}]}
        )
        assert response.status_code == 200, response.text
        return response.json()

    small, big, small_again = run(3), run(30), run(3)
    diff = api.get(f"/api/v1/executions/{small['id']}/diff/{big['id']}")
    assert diff.status_code == 200, diff.text
    result = diff.json()
    assert not result["same"] and result["status"] is None
    assert result["paths"]["common"] == ["start", "calc", "check"]
    assert result["paths"]["diverged_at"] == "check"
    assert result["paths"]["only_in_a"] == ["small"] and result["paths"]["only_in_b"] == ["big"]
    assert result["nodes"]["check"]["port"] == {"a": "false", "b": "true"}
    assert result["nodes"]["calc"]["output"]["changes"] == [
        {"path": "/0/doubled", "op": "changed", "a": 6, "b": 60},
        {"path": "/0/n", "op": "changed", "a": 3, "b": 30},
    ]
    assert result["nodes"]["small"]["status"] == {"a": "succeeded", "b": "skipped"}
    assert result["nodes"]["start"]["same"] is False  # its output (the trigger items) differs
    assert set(result["changed_nodes"]) == {"start", "calc", "check", "big", "small"}

    same = api.get(f"/api/v1/executions/{small['id']}/diff/{small_again['id']}").json()
    assert same["same"] and same["changed_nodes"] == [] and same["paths"]["diverged_at"] is None
    assert api.get(f"/api/v1/executions/{small['id']}/diff/{uuid.uuid4()}").status_code == 404

    differs = _cli(platform, "executions", "diff", small["id"], big["id"])
    assert differs.returncode == 1, differs.stderr
    assert "diverged at check" in differs.stdout
    alike = _cli(platform, "executions", "diff", small["id"], small_again["id"], "--json")
    assert alike.returncode == 0, alike.stderr
    assert json.loads(alike.stdout)["same"] is True


def test_a_step_runs_alone_with_given_items_or_a_past_runs_input(
    api: httpx.Client, platform: Platform, fake_api: Any
) -> None:
    secret = remember_secret(f"step-{uuid.uuid4().hex}")
    credential = api.post(
        "/api/v1/credentials",
        json={"name": _unique("step-key"), "type": "http_header", "data": {"name": "X-Key", "value": secret}},
    ).json()
    workflow = api.post(
        "/api/v1/workflows",
        json={
            "name": _unique("stepped"),
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "calc", "type": "set", "params": {"fields": {"doubled": "{{ item.n * 2 }}"}}},
                {
                    "id": "call",
                    "type": "http_request",
                    "params": {
                        "method": "POST",
                        "url": f"{fake_api.url}/headers",
                        "credential": credential["id"],
                        "json": {"doubled": "{{ item.doubled }}", "first": "{{ trigger[0].n }}"},
                    },
                },
                {
                    "id": "refused",
                    "type": "http_request",
                    "params": {"method": "GET", "url": f"{fake_api.url}/status/500"},
                },
            ],
            "edges": [
                {"from": "start", "to": "calc"},
                {"from": "calc", "to": "call"},
                {"from": "calc", "to": "refused"},
            ],
        },
    ).json()

    tested = api.post(f"/api/v1/workflows/{workflow['id']}/nodes/calc/test", json={"items": [{"n": 4}]})
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] == "succeeded" and tested.json()["output"] == [{"n": 4, "doubled": 8}]
    assert api.get("/api/v1/executions", params={"workflow_id": workflow["id"]}).json()["items"] == []

    run = api.post(f"/api/v1/workflows/{workflow['id']}/run", params={"wait": "true"}, json={"input": [{"n": 5}]})
    assert run.status_code == 200, run.text
    calls_before = len(fake_api.requests)
    again = api.post(f"/api/v1/workflows/{workflow['id']}/nodes/call/test", json={"execution_id": run.json()["id"]})
    assert again.status_code == 200, again.text
    result = again.json()
    assert result["status"] == "succeeded" and result["input"] == [{"n": 5, "doubled": 10}]
    assert len(fake_api.requests) == calls_before + 1
    assert json.loads(fake_api.requests[-1]["body"]) == {"doubled": 10, "first": 5}
    assert secret not in again.text  # the echoed header is redacted like any recorded output
    executions = api.get("/api/v1/executions", params={"workflow_id": workflow["id"]}).json()["items"]
    assert [e["id"] for e in executions] == [run.json()["id"]]

    assert api.post(f"/api/v1/workflows/{workflow['id']}/nodes/nope/test", json={"items": []}).status_code == 404
    neither = api.post(f"/api/v1/workflows/{workflow['id']}/nodes/calc/test", json={})
    assert neither.status_code == 422 and neither.json()["error"]["details"][0]["field"] == "items"
    failing = api.post(f"/api/v1/workflows/{workflow['id']}/nodes/refused/test", json={"items": [{}]})
    assert failing.status_code == 200, failing.text
    assert failing.json()["status"] == "failed" and "500" in failing.json()["error"]
    from_cli = _cli(platform, "workflows", "test-step", workflow["id"], "calc", "--items", '{"n": 21}')
    assert from_cli.returncode == 0, from_cli.stderr
    assert json.loads(from_cli.stdout)["ports"]["main"] == [{"n": 21, "doubled": 42}]


def test_bulk_replay_with_a_canary(api: httpx.Client, platform: Platform, fake_api: Any) -> None:
    """50 failed runs, a canary of 5: while still broken the canary fails and nothing else starts; once fixed every
    failed run is replayed exactly once. Through the CLI, which follows the API's job."""

    def definition(path: str) -> dict[str, Any]:
        return {
            "name": _unique("bulk"),
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "call", "type": "http_request", "params": {"method": "GET", "url": f"{fake_api.url}{path}"}},
            ],
            "edges": [{"from": "start", "to": "call"}],
        }

    workflow = api.post("/api/v1/workflows", json=definition("/status/500")).json()

    def runs() -> list[dict[str, Any]]:
        return api.get("/api/v1/executions", params={"workflow_id": workflow["id"], "limit": 500}).json()["items"]

    def settled(count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 120
        while True:
            found = runs()
            if len(found) == count and all(run["status"] in ("succeeded", "failed") for run in found):
                return found
            assert time.monotonic() < deadline, f"{count} runs did not finish: {found[:3]}"
            time.sleep(0.25)

    for n in range(50):
        assert api.post(f"/api/v1/workflows/{workflow['id']}/run", json={"input": [{"n": n}]}).status_code == 202
    originals = settled(50)
    assert {run["status"] for run in originals} == {"failed"}
    oldest_first = [run["id"] for run in sorted(originals, key=lambda run: run["started_at"])]

    bulk = ("executions", "replay", "--workflow", workflow["id"], "--status", "failed", "--parallel", "8")
    dry = _cli(platform, *bulk, "--canary", "5", "--workflow-version", "latest", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "50 run(s) would be replayed" in dry.stdout and "nothing started" in dry.stdout
    plan = api.post(
        "/api/v1/executions/replay",
        json={"workflow_id": workflow["id"], "canary": 5, "workflow_version": "latest", "dry_run": True},
    )
    assert plan.status_code == 202 and plan.json()["state"] == "planned"
    assert [item["source"] for item in plan.json()["items"]] == oldest_first
    assert [item["phase"] for item in plan.json()["items"]] == ["canary"] * 5 + ["rest"] * 45
    assert all(item["other_path"] == [] for item in plan.json()["items"])  # replay-check: the same path
    assert len(runs()) == 50

    # still broken: the canary fails and nothing else starts
    refused = _cli(platform, *bulk, "--canary", "5")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing else started" in refused.stdout
    after_canary = settled(55)
    replayed = [run["parent"]["execution_id"] for run in after_canary if run["parent"]]
    assert sorted(replayed) == sorted(oldest_first[:5])

    # fixed in a new version: every failed run (the canary's replays too) is replayed once, on it
    api.put(f"/api/v1/workflows/{workflow['id']}", json=definition("/fixed")).raise_for_status()
    failed = [run["id"] for run in after_canary if run["status"] == "failed"]
    done = _cli(platform, *bulk, "--canary", "5", "--workflow-version", "latest")
    assert done.returncode == 0, done.stdout + done.stderr
    replays = [run for run in settled(110) if run["workflow_version"] == 2]
    assert sorted(run["parent"]["execution_id"] for run in replays) == sorted(failed)  # each once, none twice
    assert set(oldest_first) <= {run["parent"]["execution_id"] for run in replays}
    assert all(run["status"] == "succeeded" for run in replays)
    assert "succeeded" in done.stdout

    unknown = api.get("/api/v1/executions/replay/no-such-job")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    bad = api.post("/api/v1/executions/replay", json={"workflow_id": workflow["id"], "parallelism": 0})
    assert bad.status_code == 422
