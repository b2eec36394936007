"""End to end: pinned node outputs on the distributed platform (five OS processes, RabbitMQ, PostgreSQL).

A node's output pinned in the workflow's draft stands in for the node in the editor's tests (a test run and test
a step, through the API and the CLI): a local counting HTTP server is never called. A webhook-triggered run and a
plain run of the same workflow call it as always.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.infra import FakeApi, Platform
from tests.test_lifecycle import _cli
from tests.test_triggers import activate, create

PINNED = [{"status": 299, "body": {"from": "the pin"}}]


def _calling(hook_path: str, url: str) -> dict[str, Any]:
    return {
        "name": f"pinned-{hook_path}",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": hook_path, "respond": "last_node"}},
            {"id": "call", "type": "http_request", "params": {"url": url}},
            {"id": "after", "type": "set", "params": {"fields": {"status_seen": "{{ item.status }}"}}},
        ],
        "edges": [{"from": "hook", "to": "call"}, {"from": "call", "to": "after"}],
    }


def _run(api: httpx.Client, workflow_id: str, *, test: bool) -> dict[str, Any]:
    body = {"input": [{"n": 1}], "test": test}
    ran = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json=body, timeout=90)
    assert ran.status_code == 200, ran.text
    return dict(ran.json())


def test_a_pinned_node_stands_in_only_while_testing(api: httpx.Client, fake_api: FakeApi, platform: Platform) -> None:
    hook_path, counted = f"pin-{uuid.uuid4().hex[:8]}", f"/pin-count-{uuid.uuid4().hex[:8]}"
    workflow_id = create(api, _calling(hook_path, fake_api.url + counted))
    pinned = api.put(f"/api/v1/workflows/{workflow_id}/pins/call", json={"items": PINNED})
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pinned"] == {"call": {"main": PINNED}}
    assert pinned.json()["latest_version"] == 1, "pinning saves no version"

    tested = _run(api, workflow_id, test=True)
    assert tested["status"] == "succeeded", tested
    assert tested["test"] is True
    assert tested["nodes"]["call"]["output"] == PINNED and tested["nodes"]["call"]["attempts"] == 0
    assert tested["output"] == [{**PINNED[0], "status_seen": 299}]
    step = api.post(f"/api/v1/workflows/{workflow_id}/nodes/call/test", json={"items": [{}]})
    assert step.status_code == 200, step.text
    assert step.json()["pinned"] is True and step.json()["output"] == PINNED
    after = api.post(f"/api/v1/workflows/{workflow_id}/nodes/after/test", json={"items": PINNED})
    assert after.json()["output"] == [{**PINNED[0], "status_seen": 299}]
    by_cli = _cli(platform, "workflows", "test-run", workflow_id, "--input", '{"n": 2}')
    assert by_cli.returncode == 0, by_cli.stderr
    assert fake_api.counts[counted] == 0, "no test called the pinned node's server"

    # runs that are no test ignore the pin: a plain run and a webhook-triggered one
    plain = _run(api, workflow_id, test=False)
    assert plain["test"] is False and plain["nodes"]["call"]["output"][0]["status"] == 200
    assert fake_api.counts[counted] == 1
    activate(api, workflow_id)
    hooked = api.post(f"/hooks/{hook_path}", json={"n": 3})
    assert hooked.status_code == 200, hooked.text
    assert hooked.json()["status_seen"] == 200
    assert fake_api.counts[counted] == 2
    forced = api.post(f"/api/v1/workflows/{workflow_id}/nodes/call/test", json={"items": [{}], "ignore_pin": True})
    assert forced.json()["pinned"] is False and forced.json()["output"][0]["status"] == 200
    assert fake_api.counts[counted] == 3

    # unpinned, a test run runs the node
    assert _cli(platform, "workflows", "unpin", workflow_id, "call").returncode == 0
    assert api.get(f"/api/v1/workflows/{workflow_id}").json()["pinned"] == {}
    assert _run(api, workflow_id, test=True)["nodes"]["call"]["output"][0]["status"] == 200
    assert fake_api.counts[counted] == 4
    again = api.delete(f"/api/v1/workflows/{workflow_id}/pins/call")
    assert again.status_code == 404 and "no output pinned" in again.json()["error"]["message"]
    by_cli = _cli(platform, "workflows", "pin", workflow_id, "call", "--items", '{"status": 1}')
    assert by_cli.returncode == 0, by_cli.stderr
    assert api.get(f"/api/v1/workflows/{workflow_id}").json()["pinned"] == {"call": {"main": [{"status": 1}]}}
    unknown = api.put(f"/api/v1/workflows/{workflow_id}/pins/nope", json={"items": []})
    assert unknown.status_code == 404 and "no node 'nope'" in unknown.text
