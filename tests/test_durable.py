"""End to end: durable execution — retries, cancel, fork (retry/replay), time travel, replay check, dead
letters, rebuilds, and runs that survive killed processes. Services are separate OS processes; this module
has a platform of its own because it kills and restarts them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import workflows
from tests.infra import (
    FLOWTAPE,
    Account,
    FakeApi,
    Platform,
    free_port,
    running_platform,
    wait_ready,
)


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("durable")
    with running_platform(workdir, "flowtape-durable", "flowtape_durable") as platform:
        yield platform


@pytest.fixture(scope="module")
def admin(durable: Platform) -> Account:
    assert durable.admin is not None
    return durable.admin


@pytest.fixture(scope="module")
def api(durable: Platform, admin: Account) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=durable.gateway, timeout=60, headers=admin.headers) as client:
        yield client


def create(api: httpx.Client, definition: dict[str, Any]) -> str:
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run(api: httpx.Client, workflow_id: str, items: list[dict[str, Any]], wait: bool = True) -> dict[str, Any]:
    response = api.post(
        f"/api/v1/workflows/{workflow_id}/run", params={"wait": str(wait).lower()}, json={"input": items}
    )
    assert response.status_code == (200 if wait else 202), response.text
    return dict(response.json())


def until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def finished(api: httpx.Client, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        execution = api.get(f"/api/v1/executions/{execution_id}").json()
        return execution if execution["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(until(check, timeout))


def events_of(api: httpx.Client, execution_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v1/executions/{execution_id}/events").json()["items"])


def two_step(fake_api: FakeApi, key: str) -> dict[str, Any]:
    """start → count (an upstream call) → flaky (fails its first call) → done."""
    return {
        "name": f"two-step-{key}",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "count", "type": "http_request", "params": {"url": f"{fake_api.url}/count/{key}"}},
            {"id": "flaky", "type": "http_request", "params": {"url": f"{fake_api.url}/flaky/{key}"}},
            {"id": "done", "type": "set", "params": {"fields": {"finished": True}}},
        ],
        "edges": [
            {"from": "start", "to": "count"},
            {"from": "count", "to": "flaky"},
            {"from": "flaky", "to": "done"},
        ],
    }


def test_node_retry_policy_recovers_from_a_transient_failure(api: httpx.Client, fake_api: FakeApi) -> None:
    definition = two_step(fake_api, "policy")
    definition["nodes"][2]["retry"] = {"max_attempts": 3, "backoff_seconds": 0.2}
    execution = run(api, create(api, definition), [{}])
    assert execution["status"] == "succeeded", execution
    assert execution["nodes"]["flaky"]["attempts"] == 2
    types = [(e["type"], e["data"].get("node_id")) for e in events_of(api, execution["id"])]
    assert ("NodeFailed", "flaky") in types and ("NodeRetryScheduled", "flaky") in types
    scheduled = [
        e for e in events_of(api, execution["id"]) if e["type"] == "NodeScheduled" and e["data"]["node_id"] == "flaky"
    ]
    assert [e["data"]["attempt"] for e in scheduled] == [1, 2]


def test_retry_policy_only_retries_the_errors_it_names(api: httpx.Client, fake_api: FakeApi) -> None:
    definition = two_step(fake_api, "only-timeouts")
    definition["nodes"][2]["retry"] = {"max_attempts": 3, "backoff_seconds": 0.2, "retry_on": ["timeout"]}
    execution = run(api, create(api, definition), [{}])
    assert execution["status"] == "failed" and execution["failed_node"] == "flaky"
    assert execution["nodes"]["flaky"]["attempts"] == 1
    assert "NodeRetryScheduled" not in [e["type"] for e in events_of(api, execution["id"])]


def test_retry_forks_at_the_failed_node_without_rerunning_upstream(api: httpx.Client, fake_api: FakeApi) -> None:
    failed = run(api, create(api, two_step(fake_api, "fork")), [{}])
    assert failed["status"] == "failed" and failed["failed_node"] == "flaky"
    assert fake_api.counts["/count/fork"] == 1

    retried = api.post(f"/api/v1/executions/{failed['id']}/retry")
    assert retried.status_code == 202, retried.text
    child = finished(api, retried.json()["execution_id"])
    assert child["status"] == "succeeded", child
    assert fake_api.counts["/count/fork"] == 1, "the upstream node ran again"
    assert child["nodes"]["count"]["output"] == failed["nodes"]["count"]["output"]
    assert child["nodes"]["flaky"]["attempts"] == 1
    assert child["parent"] == {"execution_id": failed["id"], "node": "flaky"}
    parent = api.get(f"/api/v1/executions/{failed['id']}").json()
    assert parent["children"] == [child["id"]]
    types = [e["type"] for e in events_of(api, child["id"])]
    assert types[:2] == ["ExecutionStarted", "ExecutionForked"] and "NodeCopied" in types
    listed = api.get("/api/v1/executions", params={"workflow_id": failed["workflow_id"]}).json()["items"]
    assert {"execution_id": failed["id"], "node": "flaky"} in [item["parent"] for item in listed]


def test_replay_from_a_middle_node_with_edited_input_on_the_latest_version(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.BRANCHING)
    original = run(api, workflow_id, [{"n": 3}])
    assert original["output"][0]["label"] == "small"
    v2 = copy.deepcopy(workflows.BRANCHING)
    v2["nodes"][3]["params"]["fields"]["label"] = "BIG"
    assert api.put(f"/api/v1/workflows/{workflow_id}", json=v2).json()["version"] == 2

    response = api.post(
        f"/api/v1/executions/{original['id']}/replay",
        json={"from_node": "calc", "workflow_version": "latest", "input": [{"n": 50}]},
    )
    assert response.status_code == 202, response.text
    replayed = finished(api, response.json()["execution_id"])
    assert replayed["workflow_version"] == 2
    assert replayed["nodes"]["calc"]["input"] == [{"n": 50}]
    assert replayed["output"] == [{"n": 50, "doubled": 100, "label": "BIG"}]
    assert replayed["nodes"]["hook"]["output"] == [{"n": 3}], "the trigger node is copied, not re-run"
    assert replayed["parent"] == {"execution_id": original["id"], "node": "calc"}

    on_original = api.post(f"/api/v1/executions/{original['id']}/replay", json={"from_node": "check"})
    again = finished(api, on_original.json()["execution_id"])
    assert again["workflow_version"] == 1 and again["output"] == original["output"]
    missing = api.post(f"/api/v1/executions/{original['id']}/replay", json={"from_node": "nope"})
    assert missing.status_code == 400 and "nope" in missing.json()["error"]["message"]


def test_state_at_each_event_matches_the_log(api: httpx.Client) -> None:
    execution = run(api, create(api, workflows.BRANCHING), [{"n": 12}])
    events = events_of(api, execution["id"])
    statuses: dict[str, str] = {}
    for event in events:
        kind, data = event["type"], event["data"]
        if kind == "NodeScheduled":
            statuses[data["node_id"]] = "scheduled"
        elif kind in ("NodeSucceeded", "NodeEvaluated"):
            statuses[data["node_id"]] = "succeeded"
        elif kind == "NodesSkipped":
            statuses.update({node: "skipped" for node in data["node_ids"]})
        state = api.get(f"/api/v1/executions/{execution['id']}/state", params={"at": event["seq"]}).json()
        assert state["events"] == event["seq"]
        observed = {node: s["status"] for node, s in state["nodes"].items() if s["status"] != "pending"}
        assert observed == statuses, f"after event {event['seq']} ({kind})"
        expected_status = "succeeded" if kind == "ExecutionSucceeded" else "running"
        assert state["status"] == expected_status
    beyond = api.get(f"/api/v1/executions/{execution['id']}/state", params={"at": len(events) + 1})
    assert beyond.status_code == 404


def test_stream_sends_every_event_until_the_end(api: httpx.Client) -> None:
    wait_flow = {
        "name": "short-wait",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": 1}},
            {"id": "done", "type": "set", "params": {"fields": {"done": True}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
    }
    started = run(api, create(api, wait_flow), [{}], wait=False)
    received = []
    with api.stream("GET", f"/api/v1/executions/{started['execution_id']}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                received.append(json.loads(line[5:]))
    assert received[0]["type"] == "ExecutionStarted" and received[-1]["type"] == "ExecutionSucceeded"
    assert "ExecutionPaused" in [e["type"] for e in received]
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1))


def test_cancel_stops_waiting_and_running_executions(api: httpx.Client) -> None:
    waiting_flow = {
        "name": "long-wait",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": 600}},
        ],
        "edges": [{"from": "start", "to": "pause"}],
    }
    waiting = run(api, create(api, waiting_flow), [{}], wait=False)["execution_id"]
    until(lambda: api.get(f"/api/v1/executions/{waiting}").json()["status"] == "waiting")
    assert api.post(f"/api/v1/executions/{waiting}/cancel").status_code == 202
    assert finished(api, waiting)["status"] == "cancelled"
    assert events_of(api, waiting)[-1]["type"] == "ExecutionCancelled"

    sleeper = workflows.code("import time\ndef run(items):\n    time.sleep(60)\n    return items", timeout_seconds=120)
    running = run(api, create(api, sleeper), [{}], wait=False)["execution_id"]
    until(lambda: api.get(f"/api/v1/executions/{running}").json()["nodes"]["py"]["status"] == "scheduled")
    time.sleep(0.5)
    started = time.monotonic()
    assert api.post(f"/api/v1/executions/{running}/cancel", json={"reason": "operator said so"}).status_code == 202
    cancelled = finished(api, running, timeout=10)
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "operator said so"
    assert time.monotonic() - started < 10
    again = api.post(f"/api/v1/executions/{running}/cancel")
    assert again.status_code == 409


def test_execution_timeout_fails_the_run(api: httpx.Client) -> None:
    slow = workflows.code("import time\ndef run(items):\n    time.sleep(30)\n    return items", timeout_seconds=60)
    slow["settings"] = {"timeout_seconds": 1}
    execution = run(api, create(api, slow), [{}])
    assert execution["status"] == "failed" and "timed out" in execution["error"]


def test_replay_check_flags_a_version_that_changes_a_branch(api: httpx.Client, admin: Account) -> None:
    workflow_id = create(api, workflows.BRANCHING)
    small = run(api, workflow_id, [{"n": 3}])
    big = run(api, workflow_id, [{"n": 30}])
    same = api.put(f"/api/v1/workflows/{workflow_id}", json=workflows.BRANCHING).json()["version"]
    changed = copy.deepcopy(workflows.BRANCHING)
    changed["nodes"][2]["params"]["condition"] = "{{ item.n > 2 }}"
    changed_version = api.put(f"/api/v1/workflows/{workflow_id}", json=changed).json()["version"]

    report = api.post("/api/v1/admin/replay-check", json={"workflow_id": workflow_id, "version": same}).json()
    assert report["checked"] == 2 and report["differing"] == 0
    report = api.post(
        "/api/v1/admin/replay-check", json={"workflow_id": workflow_id, "version": changed_version}
    ).json()
    assert report["checked"] == 2 and report["differing"] == 1
    [difference] = report["executions"]
    assert difference["execution_id"] == small["id"] and big["id"] not in json.dumps(report)
    nodes = {d["node"]: d for d in difference["differences"]}
    assert nodes["check"]["recorded"]["port"] == "false" and nodes["check"]["replayed"]["port"] == "true"
    assert nodes["big"]["recorded"]["status"] == "skipped" and nodes["big"]["replayed"]["status"] == "succeeded"

    cli = subprocess.run(
        [
            FLOWTAPE,
            "executions",
            "replay-check",
            "--workflow-id",
            workflow_id,
            "--workflow-version",
            str(changed_version),
            "--url",
            api.base_url.__str__(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLOWTAPE_TOKEN": admin.token, "COLUMNS": "200"},
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert small["id"] in cli.stdout and "check" in cli.stdout


def test_dead_letters_are_listed_with_their_reason_and_can_be_replayed(api: httpx.Client, durable: Platform) -> None:
    import asyncio

    from flowtape.common.bus.rabbit import RabbitBus
    from flowtape.common.topology import COMMANDS, ENGINE_TASK_RESULTS_QUEUE

    async def send_poison() -> None:
        bus = RabbitBus(durable.amqp_url, service="test")
        await bus.start()
        try:
            await bus.publish_raw(COMMANDS, "engine.requests", b'{"type": "engine.Nonsense.v1", "body": {}}')
        finally:
            await bus.stop()

    asyncio.run(send_poison())
    letters = until(lambda: api.get("/api/v1/admin/dead-letters").json()["items"])
    poison = next(item for item in letters if "Nonsense" in item["body"])
    assert poison["queue"] == "engine.requests" and "unknown message type" in poison["reason"]
    replayed = api.post("/api/v1/admin/dead-letters/replay", json={"ids": [poison["id"]]}).json()
    assert replayed["replayed"] == [poison["id"]]
    assert ENGINE_TASK_RESULTS_QUEUE.name != poison["queue"]
    # replayed poison dies again, and is kept again: nothing is silently dropped
    until(
        lambda: len([i for i in api.get("/api/v1/admin/dead-letters").json()["items"] if "Nonsense" in i["body"]]) == 1
    )
    history = api.get("/api/v1/admin/dead-letters", params={"include_replayed": "true"}).json()["items"]
    assert len([i for i in history if "Nonsense" in i["body"]]) == 2


def test_rebuild_projections_reproduces_the_read_models(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.chain(2, name="rebuilt"))
    for n in range(3):
        run(api, workflow_id, [{"n": n}])
    before = api.get("/api/v1/executions", params={"limit": 500}).json()["items"]
    workflows_before = api.get("/api/v1/workflows", params={"limit": 500}).json()["items"]
    assert api.post("/api/v1/admin/projections/rebuild").status_code == 202
    status = until(lambda: (s := api.get("/api/v1/admin/projections").json())["state"] == "done" and s)
    assert status["stores"]["executions"]["applied"] > 0
    assert api.get("/api/v1/executions", params={"limit": 500}).json()["items"] == before
    assert api.get("/api/v1/workflows", params={"limit": 500}).json()["items"] == workflows_before


def _start_extra_connectors(platform: Platform) -> subprocess.Popen[bytes]:
    port = free_port()
    log = (platform.workdir / "connectors-2.log").open("ab")
    process = subprocess.Popen(
        [FLOWTAPE, "serve", "connectors"], env=platform.env("connectors", port), stdout=log, stderr=subprocess.STDOUT
    )
    wait_ready(f"http://127.0.0.1:{port}", process=process)
    return process


def test_runs_survive_killed_engine_and_connectors(api: httpx.Client, durable: Platform, fake_api: FakeApi) -> None:
    """200 runs with a wait and a side effect; kill -9 the engine and a connectors worker twice meanwhile."""
    flow = {
        "name": "effectful",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": 1}},
            {
                "id": "pay",
                "type": "http_request",
                "params": {
                    "method": "POST",
                    "url": f"{fake_api.url}/effect",
                    "json": {"n": "{{ item.n }}"},
                    "send_idempotency_key": True,
                },
                "retry": {"max_attempts": 5, "backoff_seconds": 0.5},
            },
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "pay"}],
    }
    workflow_id = create(api, flow)
    second = _start_extra_connectors(durable)
    try:
        ids = [run(api, workflow_id, [{"n": i}], wait=False)["execution_id"] for i in range(200)]
        for _ in range(2):
            durable.stop("engine", kill=True)
            durable.stop("connectors", kill=True)
            durable.start("engine")
            durable.start("connectors")
            wait_ready(durable.processes["engine"].url, process=durable.processes["engine"].popen)
            wait_ready(durable.processes["connectors"].url, process=durable.processes["connectors"].popen)
            time.sleep(0.5)
        results = [finished(api, execution_id, timeout=120) for execution_id in ids]
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert [r["status"] for r in results] == ["succeeded"] * 200, [r for r in results if r["status"] != "succeeded"][:2]
    keys = {r["id"]: f"{r['id']}:pay:{r['nodes']['pay']['attempts']}" for r in results}
    effects = {key: count for key, count in fake_api.effects.items() if key.split(":")[0] in keys}
    assert set(effects) == set(keys.values()), "exactly one idempotency key per execution reached the API"
    applied = sum(1 for r in results if r["nodes"]["pay"]["output"][0]["body"]["key"] in effects)
    assert applied == 200
