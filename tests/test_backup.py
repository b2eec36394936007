"""End to end: `flowtape admin backup FILE` and `flowtape admin restore FILE`.

A distributed platform (five OS processes) with workflows of several versions, a credential, users and an API key,
an active webhook trigger, variables and finished runs is backed up; the file is restored into a second platform
with a fresh database and a fresh RabbitMQ vhost, which then answers every listing and every sampled run, its
events and its state, field by field as the first did; its credential still opens, its webhook still answers, its
accounts still sign in. A file of another format version is refused, and so is a platform that is not empty.
The embedded platform (SQLite) is checked the same way, briefly.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FLOWTAPE, FakeApi, Platform, login, remember_secret, running_platform
from tests.test_credentials import make_user, sent_to
from tests.test_embedded import Embedded
from tests.test_triggers import activate

#: every listing a client sees, compared whole
LISTINGS = (
    "/api/v1/workflows",
    "/api/v1/executions?limit=500",
    "/api/v1/credentials",
    "/api/v1/variables",
    "/api/v1/users",
    "/api/v1/api-keys",
    "/api/v1/triggers",
)


def _cli(url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWTAPE_URL": url, "FLOWTAPE_TOKEN": token, "COLUMNS": "200"}
    return subprocess.run([FLOWTAPE, *args], capture_output=True, text=True, env=env, timeout=300)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def platforms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Platform]]:
    """The platform backed up and a second one to restore into (its own database and vhost, the same secret key:
    credentials need it), started side by side."""
    env = {"FLOWTAPE_SECRET_KEY": remember_secret(secrets.token_urlsafe(32))}
    managers = [
        running_platform(tmp_path_factory.mktemp("backup-source"), "flowtape-backup", "flowtape_backup", env),
        running_platform(tmp_path_factory.mktemp("backup-target"), "flowtape-restored", "flowtape_restored", env),
    ]
    with ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:
            starts = [pool.submit(manager.__enter__) for manager in managers]
        for manager, start in zip(managers, starts, strict=True):
            if start.exception() is None:  # one that started is stopped again even when the other failed
                stack.push(manager.__exit__)
        yield starts[0].result(), starts[1].result()


def _populate(api: httpx.Client, platform: Platform, fake_api: FakeApi) -> dict[str, Any]:
    token = remember_secret(f"tok-{secrets.token_urlsafe(20)}")
    secret_value = remember_secret(f"var-{secrets.token_urlsafe(20)}")
    _ok(api.post("/api/v1/credentials", json={"name": "echo", "type": "http_bearer", "data": {"token": token}}))
    hook = f"restored-{uuid.uuid4().hex[:8]}"
    definition = {
        "name": "calls",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": hook, "respond": "last_node"}},
            {"id": "call", "type": "http_request", "params": {"url": f"{fake_api.url}/headers", "credential": "echo"}},
            {"id": "tag", "type": "set", "params": {"fields": {"region": "{{ vars.REGION }}"}}},
        ],
        "edges": [{"from": "hook", "to": "call"}, {"from": "call", "to": "tag"}],
    }
    workflow = _ok(api.post("/api/v1/workflows", json=definition))
    definition["tags"] = ["v2"]
    _ok(api.put(f"/api/v1/workflows/{workflow['id']}", json=definition))
    definition["tags"] = ["v3"]
    _ok(api.put(f"/api/v1/workflows/{workflow['id']}", json=definition))
    _ok(api.put("/api/v1/variables/REGION", json={"value": "eu"}))
    _ok(api.put(f"/api/v1/workflows/{workflow['id']}/variables/TOKEN", json={"value": secret_value, "secret": True}))
    activate(api, workflow["id"])
    editor = make_user(api, platform, "editor")
    _ok(api.post("/api/v1/api-keys", json={"name": "ci", "role": "operator"}))
    runs = [_ok(api.post(f"/hooks/{hook}", json={"n": n})) for n in range(2)]
    assert all(run["region"] == "eu" for run in runs)
    _ok(api.post(f"/api/v1/workflows/{workflow['id']}/run", params={"wait": "true"}, json={"input": [{"n": 9}]}))
    failing = {
        "name": "fails",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "boom", "type": "stop_and_error", "params": {"message": "no"}},
        ],
        "edges": [{"from": "start", "to": "boom"}],
    }
    failed = _ok(api.post("/api/v1/workflows", json=failing))
    _ok(api.post(f"/api/v1/workflows/{failed['id']}/run", params={"wait": "true"}, json={"input": []}))
    return {"workflow": workflow["id"], "hook": hook, "editor": editor, "secrets": [token, secret_value]}


def _answers(api: httpx.Client, workflow_ids: list[str]) -> dict[str, Any]:
    """What the platform answers: every listing, each workflow (versions too), each run with its events and
    its state after its first and middle events."""
    seen: dict[str, Any] = {path: _ok(api.get(path)) for path in LISTINGS}
    for workflow_id in workflow_ids:
        seen[workflow_id] = _ok(api.get(f"/api/v1/workflows/{workflow_id}"))
        versions = _ok(api.get(f"/api/v1/workflows/{workflow_id}/versions"))
        seen[f"{workflow_id}/versions"] = versions
        for version in versions["items"]:
            seen[f"{workflow_id}/v{version['version']}"] = _ok(
                api.get(f"/api/v1/workflows/{workflow_id}/versions/{version['version']}")
            )
        seen[f"{workflow_id}/variables"] = _ok(api.get(f"/api/v1/workflows/{workflow_id}/variables"))
    for summary in seen["/api/v1/executions?limit=500"]["items"]:
        run = summary["id"]
        seen[run] = _ok(api.get(f"/api/v1/executions/{run}"))
        events = _ok(api.get(f"/api/v1/executions/{run}/events"))
        seen[f"{run}/events"] = events
        for at in {1, max(1, len(events["items"]) // 2)}:
            seen[f"{run}/state@{at}"] = _ok(api.get(f"/api/v1/executions/{run}/state", params={"at": at}))
    return seen


def test_a_restored_platform_answers_as_the_backed_up_one(
    platforms: tuple[Platform, Platform], fake_api: FakeApi, tmp_path: Path
) -> None:
    source, target = platforms
    assert source.admin is not None and target.admin is not None
    with httpx.Client(base_url=source.gateway, headers=source.admin.headers, timeout=60) as api:
        made = _populate(api, source, fake_api)
        workflow_ids = [item["id"] for item in _ok(api.get("/api/v1/workflows"))["items"]]
        before = _answers(api, workflow_ids)
    assert len(before["/api/v1/executions?limit=500"]["items"]) == 4

    backup = tmp_path / "platform.backup"
    made_backup = _cli(source.gateway, source.admin.token, "admin", "backup", str(backup))
    assert made_backup.returncode == 0, made_backup.stderr
    assert "backed up" in made_backup.stderr
    text = backup.read_text()
    for secret in [*made["secrets"], source.admin.password, made["editor"].password]:
        assert secret not in text, "the file holds secrets only as the services store them"
    header = json.loads(text.splitlines()[0])
    assert header["format"] == "flowtape.backup" and header["format_version"] == 1

    # refused: a file of another format version, and (unforced) a platform that is not empty
    future = tmp_path / "future.backup"
    future.write_text("\n".join([json.dumps({**header, "format_version": 99}), *text.splitlines()[1:]]) + "\n")
    refused = _cli(target.gateway, target.admin.token, "admin", "restore", str(future))
    assert refused.returncode == 1 and "format version 99" in refused.stderr, refused.stderr
    not_empty = _cli(source.gateway, source.admin.token, "admin", "restore", str(backup))
    assert not_empty.returncode == 1 and "not empty" in not_empty.stderr, not_empty.stderr

    restored = _cli(target.gateway, target.admin.token, "admin", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr + target.logs()

    token = login(target.gateway, source.admin.email, source.admin.password)
    with httpx.Client(base_url=target.gateway, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        after = _answers(api, workflow_ids)
        assert after.keys() == before.keys()
        for key, answer in before.items():
            assert after[key] == answer, f"{key} differs after the restore"
        # it works, not only reads: accounts, the webhook trigger, the credential and the variables
        login(target.gateway, made["editor"].email, made["editor"].password)
        ran = _ok(api.post(f"/hooks/{made['hook']}", json={"n": 5}))
        assert ran["region"] == "eu" and ran["status"] == 200
        assert sent_to(fake_api, "/headers")["authorization"] == f"Bearer {made['secrets'][0]}"
        assert len(_ok(api.get("/api/v1/executions"))["items"]) == 5


def test_an_embedded_platform_restores_into_another(tmp_path: Path) -> None:
    key = {"FLOWTAPE_SECRET_KEY": secrets.token_urlsafe(32)}
    first, second = Embedded(tmp_path / "a" / "data"), Embedded(tmp_path / "b" / "data")
    for platform in (first, second):
        platform.data_dir.parent.mkdir(parents=True)
        platform.env = key
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(Embedded.start, (first, second)))
    try:
        assert first.admin is not None and second.admin is not None
        with httpx.Client(base_url=first.url, headers=first.headers, timeout=60) as api:
            definition = {
                "name": "w",
                "nodes": [
                    {"id": "start", "type": "manual_trigger"},
                    {"id": "s", "type": "set", "params": {"fields": {"x": "{{ vars.X }}"}}},
                ],
                "edges": [{"from": "start", "to": "s"}],
            }
            workflow = _ok(api.post("/api/v1/workflows", json=definition))
            _ok(api.put("/api/v1/variables/X", json={"value": "1"}))
            _ok(api.post(f"/api/v1/workflows/{workflow['id']}/run", params={"wait": "true"}, json={"input": []}))
            before = _answers(api, [workflow["id"]])
        backup = tmp_path / "embedded.backup"
        assert _cli(first.url, first.admin.token, "admin", "backup", str(backup)).returncode == 0
        restored = _cli(second.url, second.admin.token, "admin", "restore", str(backup))
        assert restored.returncode == 0, restored.stderr
        token = login(second.url, first.admin.email, first.admin.password)
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
            assert _answers(api, [workflow["id"]]) == before
    finally:
        first.stop()
        second.stop()
