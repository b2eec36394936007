"""Quotas per project end to end on the distributed platform (issue 16, item 6).

A platform admin sets a project's quotas; a start beyond one (a run through the API, a webhook, a replay) is
refused with 429 and a message naming the quota, while another project goes on; the project's admin sees its
usage, its other members and other teams do not; only platform admins set quotas.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.infra import Platform, login, remember_secret, until
from tests.test_triggers import activate, create


def _member(platform: Platform, api: httpx.Client, project: str, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@quotas.test"
    password = remember_secret(f"pw-{uuid.uuid4().hex}")
    made = api.post("/api/v1/users", json={"email": email, "password": password, "role": "viewer"})
    assert made.status_code == 201, made.text
    added = api.post(f"/api/v1/projects/{project}/members", json={"email": email, "role": role})
    assert added.status_code == 201, added.text
    return {"Authorization": f"Bearer {login(platform.gateway, email, password)}"}


def _project(api: httpx.Client, name: str) -> str:
    made = api.post("/api/v1/projects", json={"name": f"{name} {uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.fixture(scope="module")
def projects(platform: Platform, api: httpx.Client) -> Iterator[dict[str, Any]]:
    limited, other = _project(api, "Limited"), _project(api, "Unlimited")
    yield {
        "limited": limited,
        "other": other,
        "admin": _member(platform, api, limited, "admin"),
        "editor": _member(platform, api, limited, "editor"),
        "outsider": _member(platform, api, other, "admin"),
    }


def _flow(project: str, path: str) -> dict[str, Any]:
    """A webhook answered by its last node, also run through the API (a run's input stands in for the request)."""
    return {
        "name": path,
        "project_id": project,
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "respond": "last_node"}},
            {"id": "seen", "type": "set", "params": {"fields": {"seen": True}}},
        ],
        "edges": [{"from": "hook", "to": "seen"}],
    }


def test_starts_beyond_the_days_quota_get_429_naming_it_and_the_admin_sees_the_usage(
    platform: Platform, api: httpx.Client, anonymous: httpx.Client, projects: dict[str, Any]
) -> None:
    limited, other = projects["limited"], projects["other"]
    path = f"quota-{uuid.uuid4().hex[:8]}"
    workflow = create(api, _flow(limited, path))
    activate(api, workflow)
    other_workflow = create(api, _flow(other, f"free-{uuid.uuid4().hex[:8]}"))

    with httpx.Client(base_url=platform.gateway, timeout=60, headers=projects["editor"]) as editor:
        set_by_editor = editor.put(f"/api/v1/projects/{limited}/quotas", json={"executions_per_day": 1})
        assert set_by_editor.status_code == 403, set_by_editor.text
    quotas = api.put(f"/api/v1/projects/{limited}/quotas", json={"executions_per_day": 3, "concurrent_runs": 50})
    assert quotas.status_code == 200, quotas.text
    assert quotas.json()["quotas"] == {"executions_per_day": 3, "concurrent_runs": 50, "stored_bytes": None}
    assert api.put("/api/v1/projects/no-such-project/quotas", json={}).status_code == 404

    first = api.post(f"/api/v1/workflows/{workflow}/run?wait=true", json={"input": [{}]})
    assert first.status_code == 200 and first.json()["status"] == "succeeded", first.text
    assert api.post(f"/hooks/{path}", json={}).status_code == 200  # a webhook's run counts too
    assert api.post(f"/api/v1/workflows/{workflow}/run?wait=true", json={"input": [{}]}).status_code == 200

    refused = {
        "run": api.post(f"/api/v1/workflows/{workflow}/run", json={"input": [{}]}),
        "webhook": anonymous.post(f"/hooks/{path}", json={}),
        "replay": api.post(f"/api/v1/executions/{first.json()['id']}/replay", json={"from_node": "seen"}),
    }
    for how, answer in refused.items():
        assert answer.status_code == 429, f"{how}: {answer.status_code} {answer.text}"
        assert "quota of executions per day (3)" in answer.json()["error"]["message"], how
        assert limited in answer.json()["error"]["message"], how
    free = api.post(f"/api/v1/workflows/{other_workflow}/run?wait=true", json={"input": [{}]})
    assert free.status_code == 200, "another project has no quota and goes on"

    with httpx.Client(base_url=platform.gateway, timeout=60, headers=projects["admin"]) as admin:
        usage = admin.get(f"/api/v1/projects/{limited}/usage")
        assert usage.status_code == 200, usage.text
        seen = usage.json()
        assert seen["usage"]["executions_today"] == 3 and seen["quotas"]["executions_per_day"] == 3
        assert seen["usage"]["stored_bytes"] > 0 and seen["usage"]["concurrent_runs"] == 0
    with httpx.Client(base_url=platform.gateway, timeout=60, headers=projects["editor"]) as editor:
        assert editor.get(f"/api/v1/projects/{limited}/usage").status_code == 403  # a member, not its admin
    with httpx.Client(base_url=platform.gateway, timeout=60, headers=projects["outsider"]) as outsider:
        assert outsider.get(f"/api/v1/projects/{limited}/usage").status_code == 404  # another team's

    lifted = api.put(f"/api/v1/projects/{limited}/quotas", json={"executions_per_day": None})
    assert lifted.status_code == 200 and lifted.json()["quotas"]["executions_per_day"] is None
    # every engine replica reads the quotas within 5 s
    until(lambda: api.post(f"/hooks/{path}", json={}).status_code == 200, 15)


def test_stored_data_quota_refuses_new_runs_once_the_project_keeps_more(
    platform: Platform, api: httpx.Client, projects: dict[str, Any]
) -> None:
    project = _project(api, "Storage")
    workflow = create(api, _flow(project, f"big-{uuid.uuid4().hex[:8]}"))
    big = api.post(f"/api/v1/workflows/{workflow}/run?wait=true", json={"input": [{"blob": "x" * 300_000}]})
    assert big.status_code == 200, big.text
    usage = api.get(f"/api/v1/projects/{project}/usage").json()["usage"]
    assert usage["stored_bytes"] >= 300_000, usage
    api.put(f"/api/v1/projects/{project}/quotas", json={"stored_bytes": 200_000}).raise_for_status()
    refused = api.post(f"/api/v1/workflows/{workflow}/run", json={"input": [{}]})
    assert refused.status_code == 429, refused.text
    assert "quota of stored execution data (200000 bytes)" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"]["quota"] == "stored_bytes"
