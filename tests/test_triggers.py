"""End to end: webhooks, schedules and event triggers, with the services as separate OS processes.

Uses the session's distributed platform (``tests/conftest.py``); the schedule test starts a second triggers
process beside the first, to show a tick fires once however many replicas see it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests import workflows
from tests.infra import Platform, wait_ready


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(api: httpx.Client, definition: dict[str, Any]) -> str:
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def activate(api: httpx.Client, workflow_id: str) -> None:
    response = api.post(f"/api/v1/workflows/{workflow_id}/activate")
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


def deactivate(api: httpx.Client, workflow_id: str) -> None:
    response = api.post(f"/api/v1/workflows/{workflow_id}/deactivate")
    assert response.status_code == 200, response.text


def webhook(path: str, *, respond: str = "immediately", **params: Any) -> dict[str, Any]:
    return {
        "name": path,
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "respond": respond, **params}},
            {
                "id": "seen",
                "type": "set",
                "params": {
                    "fields": {"source": "{{ request.query.source }}", "agent": "{{ request.headers['x-agent'] }}"}
                },
            },
        ],
        "edges": [{"from": "hook", "to": "seen"}],
    }


def eventually(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        time.sleep(every)


def executions_of(api: httpx.Client, workflow_id: str, status: str | None = None) -> list[dict[str, Any]]:
    params = {"workflow_id": workflow_id, "limit": 500, **({"status": status} if status else {})}
    return list(api.get("/api/v1/executions", params=params).json()["items"])


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- webhooks -----------------------------------------------------------------------------------------------


def test_sync_webhook_answers_with_the_branch_label(api: httpx.Client) -> None:
    definition = copy.deepcopy(workflows.BRANCHING)
    path = unique("orders")
    definition["nodes"][0]["params"]["path"] = path
    workflow_id = create(api, definition)
    activate(api, workflow_id)
    big = api.post(f"/hooks/{path}", json={"n": 30})
    assert big.status_code == 200, big.text
    assert big.json() == {"n": 30, "doubled": 60, "label": "big"}
    small = api.post(f"/hooks/{path}", json={"n": 3})
    assert small.json() == {"n": 3, "doubled": 6, "label": "small"}
    assert api.get(f"/hooks/{path}").status_code == 404  # the webhook answers POST only
    listed = executions_of(api, workflow_id)
    assert len(listed) == 2 and {e["status"] for e in listed} == {"succeeded"}


def test_async_webhook_answers_202_and_the_execution_appears(api: httpx.Client) -> None:
    path = unique("async")
    workflow_id = create(api, webhook(path))
    activate(api, workflow_id)
    response = api.post(
        f"/hooks/{path}",
        params={"source": "shop"},
        json={"order": 1},
        headers={"x-agent": "tester", "authorization": "Bearer not-for-the-log"},
    )
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]

    def finished() -> dict[str, Any] | None:
        detail = api.get(f"/api/v1/executions/{execution_id}")
        return detail.json() if detail.status_code == 200 and detail.json()["status"] == "succeeded" else None

    execution = eventually(finished)
    assert execution["workflow_id"] == workflow_id
    assert execution["output"] == [{"order": 1, "source": "shop", "agent": "tester"}]
    started = api.get(f"/api/v1/executions/{execution_id}/events").json()["items"][0]["data"]
    request = started["trigger_meta"]["request"]
    assert request["method"] == "POST" and request["path"] == path and request["query"] == {"source": "shop"}
    assert "authorization" not in request["headers"]


def test_webhook_bodies_become_items(api: httpx.Client) -> None:
    path = unique("bodies")
    definition = webhook(path, respond="last_node")
    workflow_id = create(api, definition)
    activate(api, workflow_id)
    many = api.post(f"/hooks/{path}", json=[{"a": 1}, {"a": 2}])
    assert many.status_code == 200
    assert [item["a"] for item in many.json()] == [1, 2]
    text = api.post(f"/hooks/{path}", content=b"hello", headers={"content-type": "text/plain"})
    assert text.json()["body"] == "hello"
    scalar = api.post(f"/hooks/{path}", content=b"42", headers={"content-type": "application/json"})
    assert scalar.json()["body"] == "42"


def test_a_respond_node_sets_status_headers_and_body(api: httpx.Client) -> None:
    path = unique("respond")
    definition = {
        "name": path,
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "respond": "last_node", "method": "PUT"}},
            {
                "id": "answer",
                "type": "respond",
                "params": {"status": 201, "headers": {"x-flow": "yes"}, "body": {"got": "{{ item.n }}"}},
            },
            {"id": "after", "type": "set", "params": {"fields": {"ignored": True}}},
        ],
        "edges": [{"from": "hook", "to": "answer"}, {"from": "answer", "to": "after"}],
    }
    workflow_id = create(api, definition)
    activate(api, workflow_id)
    response = api.put(f"/hooks/{path}", json={"n": 5})
    assert response.status_code == 201, response.text
    assert response.headers["x-flow"] == "yes"
    assert response.json() == {"got": 5}


def test_signed_webhook_refuses_a_wrong_signature(api: httpx.Client) -> None:
    path = unique("signed")
    workflow_id = create(api, webhook(path, secret="s3cret"))
    activate(api, workflow_id)
    body = json.dumps({"n": 1}).encode()
    headers = {"content-type": "application/json"}
    missing = api.post(f"/hooks/{path}", content=body, headers=headers)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = api.post(f"/hooks/{path}", content=body, headers={**headers, "x-flowtape-signature": sign("nope", body)})
    assert wrong.status_code == 401
    tampered = api.post(
        f"/hooks/{path}", content=body + b" ", headers={**headers, "x-flowtape-signature": sign("s3cret", body)}
    )
    assert tampered.status_code == 401
    right = api.post(f"/hooks/{path}", content=body, headers={**headers, "x-flowtape-signature": sign("s3cret", body)})
    assert right.status_code == 202, right.text


def test_deactivated_and_unknown_webhooks_answer_404(api: httpx.Client) -> None:
    path = unique("short-lived")
    workflow_id = create(api, webhook(path))
    activate(api, workflow_id)
    assert api.post(f"/hooks/{path}", json={}).status_code == 202
    deactivate(api, workflow_id)
    gone = api.post(f"/hooks/{path}", json={})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert api.post(f"/hooks/{unique('never')}", json={}).status_code == 404
    activate(api, workflow_id)
    assert api.post(f"/hooks/{path}", json={}).status_code == 202
    assert api.delete(f"/api/v1/workflows/{workflow_id}").status_code == 200
    assert api.post(f"/hooks/{path}", json={}).status_code == 404


def test_a_taken_webhook_path_is_refused_at_activation(api: httpx.Client) -> None:
    path = unique("shared")
    first = create(api, webhook(path))
    second = create(api, webhook(path))
    activate(api, first)
    refused = api.post(f"/api/v1/workflows/{second}/activate")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "conflict" and path in refused.json()["error"]["message"]
    assert api.get(f"/api/v1/workflows/{second}").json()["active"] is False
    # saving the first with another path frees this one
    moved = api.put(f"/api/v1/workflows/{first}", json=webhook(path + "-moved"))
    assert moved.status_code == 200, moved.text
    activate(api, second)
    assert api.post(f"/hooks/{path}", json={}).status_code == 202
    assert api.post(f"/hooks/{path}-moved", json={}).status_code == 202


def test_a_slow_sync_webhook_answers_504_with_the_execution_id(api: httpx.Client) -> None:
    path = unique("slow")
    definition = {
        "name": path,
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "respond": "last_node", "timeout_seconds": 1}},
            {"id": "pause", "type": "wait", "params": {"seconds": 5}},
        ],
        "edges": [{"from": "hook", "to": "pause"}],
    }
    workflow_id = create(api, definition)
    activate(api, workflow_id)
    response = api.post(f"/hooks/{path}", json={})
    assert response.status_code == 504, response.text
    execution_id = response.json()["error"]["details"]["execution_id"]
    assert api.get(f"/api/v1/executions/{execution_id}").json()["workflow_id"] == workflow_id


def test_an_oversized_webhook_body_answers_413(api: httpx.Client) -> None:
    path = unique("big")
    workflow_id = create(api, webhook(path))
    activate(api, workflow_id)
    response = api.post(f"/hooks/{path}", content=b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


# -- schedules ----------------------------------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def test_interval_fires_every_second_once_per_tick_across_two_replicas(api: httpx.Client, platform: Platform) -> None:
    replica = platform.start("triggers", name="triggers-2")
    try:
        wait_ready(replica.url, process=replica.popen)
        definition = {
            "name": "every-second",
            "nodes": [
                {"id": "tick", "type": "schedule", "params": {"interval": 1}},
                {"id": "note", "type": "set", "params": {"fields": {"seen": True}}},
            ],
            "edges": [{"from": "tick", "to": "note"}],
        }
        workflow_id = create(api, definition)
        activate(api, workflow_id)
        time.sleep(4.5)
        listed = {item["workflow_id"]: item for item in api.get("/api/v1/triggers").json()["items"]}
        deactivate(api, workflow_id)
        registration = listed[workflow_id]
        assert registration["kind"] == "schedule" and registration["interval"] == 1
        assert registration["last_fired_at"] and registration["next_fire_at"] > registration["last_fired_at"]

        time.sleep(1.0)  # let the last started executions be recorded
        runs = executions_of(api, workflow_id)
        assert len(runs) >= 3, runs
        ticks = []
        for run in runs:
            detail = api.get(f"/api/v1/executions/{run['id']}").json()
            item = detail["nodes"]["tick"]["output"][0]
            assert item["fired_at"] >= item["scheduled_at"]
            ticks.append(item["scheduled_at"])
        assert len(ticks) == len(set(ticks)), f"a tick fired twice: {sorted(ticks)}"

        metrics = [httpx.get(f"{platform.processes[name].url}/metrics").text for name in ("triggers", "triggers-2")]
        assert sum(_metric(text, "flowtape_trigger_fires_total") for text in metrics) >= len(runs)
        # both replicas saw the ticks: the one that lost a tick's fire key did not start it
        assert sum(_metric(text, "flowtape_trigger_fires_lost_total") for text in metrics) >= 1
    finally:
        platform.stop("triggers-2")
        platform.processes.pop("triggers-2", None)


# -- event triggers -----------------------------------------------------------------------------------------


def test_an_error_workflow_runs_when_a_workflow_fails(api: httpx.Client) -> None:
    failing = create(api, workflows.code("def run(items):\n    raise ValueError('boom')", name="fails"))
    watcher = create(
        api,
        {
            "name": "on-failure",
            "nodes": [
                {"id": "failed", "type": "execution_trigger", "params": {"workflow_ids": [failing]}},
                {"id": "alert", "type": "set", "params": {"fields": {"alert": "{{ item.workflow_id }} failed"}}},
            ],
            "edges": [{"from": "failed", "to": "alert"}],
        },
    )
    activate(api, watcher)
    run = api.post(f"/api/v1/workflows/{failing}/run", params={"wait": "true"}, json={"input": [{}]}).json()
    assert run["status"] == "failed"
    alerts = eventually(lambda: executions_of(api, watcher, "succeeded"))
    assert len(alerts) == 1
    detail = api.get(f"/api/v1/executions/{alerts[0]['id']}").json()
    item = detail["output"][0]
    assert item["execution_id"] == run["id"] and item["workflow_id"] == failing
    assert item["status"] == "failed" and "boom" in item["error"]
    assert item["alert"] == f"{failing} failed"
    # a success does not start it
    ok = create(api, workflows.chain(2, name="fine"))
    api.post(f"/api/v1/workflows/{ok}/run", params={"wait": "true"}, json={"input": [{"n": 1}]})
    time.sleep(1.0)
    assert len(executions_of(api, watcher)) == 1


def test_a_message_on_a_routing_key_starts_a_workflow(api: httpx.Client, platform: Platform) -> None:
    import aio_pika

    key = f"shop.{uuid.uuid4().hex[:6]}"
    listener = create(
        api,
        {
            "name": "on-order",
            "nodes": [
                {"id": "msg", "type": "message_trigger", "params": {"routing_key": f"{key}.*"}},
                {"id": "keep", "type": "noop"},
            ],
            "edges": [{"from": "msg", "to": "keep"}],
        },
    )
    activate(api, listener)

    async def publish(routing_key: str, body: bytes) -> None:
        connection = await aio_pika.connect(platform.amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange("flowtape.events")
            await exchange.publish(aio_pika.Message(body, message_id=uuid.uuid4().hex), routing_key=routing_key)

    asyncio.run(publish(f"{key}.created", json.dumps({"order": 7}).encode()))
    asyncio.run(publish(f"{key}.created.late", json.dumps({"order": 8}).encode()))  # '*' is one word
    runs = eventually(lambda: executions_of(api, listener, "succeeded"))
    time.sleep(1.0)
    runs = executions_of(api, listener)
    assert len(runs) == 1
    assert api.get(f"/api/v1/executions/{runs[0]['id']}").json()["output"] == [{"order": 7}]


def test_the_api_documents_hooks_and_triggers(api: httpx.Client) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/triggers" in paths
    assert {"get", "post", "put", "patch", "delete"} <= set(paths["/hooks/{path}"])


# -- embedded mode ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``flowtape up``: all five services in one process on the in-process bus and SQLite."""
    from tests.test_embedded import Embedded

    platform = Embedded(tmp_path_factory.mktemp("embedded-triggers") / "data")
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


def test_embedded_mode_serves_webhooks_and_schedules(embedded: Any) -> None:
    with httpx.Client(base_url=embedded.url, timeout=30, headers=embedded.headers) as api:
        hook = create(api, workflows.BRANCHING)
        activate(api, hook)
        assert httpx.post(f"{embedded.url}/hooks/orders", json={"n": 30}).json()["label"] == "big"
        ticking = create(
            api,
            {
                "name": "embedded-ticks",
                "nodes": [{"id": "tick", "type": "schedule", "params": {"interval": 1}}, {"id": "n", "type": "noop"}],
                "edges": [{"from": "tick", "to": "n"}],
            },
        )
        activate(api, ticking)
        time.sleep(3.5)
        kinds = {item["workflow_id"]: item["kind"] for item in api.get("/api/v1/triggers").json()["items"]}
        assert kinds == {hook: "webhook", ticking: "schedule"}
        deactivate(api, ticking)
        assert len(executions_of(api, ticking)) >= 2
