"""End to end: the five services as separate OS processes on real RabbitMQ and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import workflows
from tests.infra import FakeApi, Platform


def create(api: httpx.Client, definition: dict[str, Any]) -> str:
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1 and body["active"] is False
    return str(body["id"])


def run(api: httpx.Client, workflow_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": items})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(("n", "label", "skipped"), [(3, "small", "big"), (30, "big", "small")])
def test_branching_workflow_takes_the_right_branch(api: httpx.Client, n: int, label: str, skipped: str) -> None:
    workflow_id = create(api, workflows.BRANCHING)
    execution = run(api, workflow_id, [{"n": n}])
    assert execution["status"] == "succeeded"
    assert execution["output"] == [{"n": n, "doubled": n * 2, "label": label}]
    nodes = execution["nodes"]
    assert nodes[skipped]["status"] == "skipped"
    assert nodes[label]["status"] == "succeeded"
    assert nodes["calc"]["input"] == [{"n": n}]
    assert nodes["calc"]["output"] == [{"n": n, "doubled": n * 2}]
    assert nodes["check"]["port"] == ("true" if n > 10 else "false")

    events = api.get(f"/api/v1/executions/{execution['id']}/events").json()["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted" and events[0]["data"]["trigger"] == [{"n": n}]
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert {"NodeEvaluated", "NodesSkipped"} <= {e["type"] for e in events}


def test_state_at_any_event_replays_the_log(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.BRANCHING)
    execution = run(api, workflow_id, [{"n": 7}])
    events = api.get(f"/api/v1/executions/{execution['id']}/events").json()["items"]
    first = api.get(f"/api/v1/executions/{execution['id']}/state", params={"at": 1}).json()
    assert first["status"] == "running"
    assert all(node["status"] == "pending" for node in first["nodes"].values())
    calc_done = next(e["seq"] for e in events if e["type"] == "NodeEvaluated" and e["data"]["node_id"] == "calc")
    mid = api.get(f"/api/v1/executions/{execution['id']}/state", params={"at": calc_done}).json()
    assert mid["nodes"]["calc"]["status"] == "succeeded"
    assert mid["nodes"]["check"]["status"] == "pending"
    last = api.get(f"/api/v1/executions/{execution['id']}/state", params={"at": len(events)}).json()
    assert last["status"] == "succeeded" and last["output"] == execution["output"]


def test_twenty_node_chain(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.chain(20))
    execution = run(api, workflow_id, [{"n": 1}])
    assert execution["status"] == "succeeded"
    expected = {"n": 1, **{f"f{i}": 1 + i for i in range(1, 20)}}
    assert execution["output"] == [expected]
    assert all(node["status"] == "succeeded" for node in execution["nodes"].values())


def test_parallel_branches_meet_in_a_merge(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.PARALLEL_MERGE)
    execution = run(api, workflow_id, [{"n": 1}])
    assert execution["status"] == "succeeded", execution
    sides = sorted(item["side"] for item in execution["output"])
    assert sides == ["left", "right"]
    assert all(item["joined"] is True for item in execution["output"])
    assert execution["nodes"]["join"]["input"] and len(execution["nodes"]["join"]["input"]) == 2


def test_http_request_calls_the_outside_world(api: httpx.Client, fake_api: FakeApi) -> None:
    workflow_id = create(api, workflows.http_call(fake_api.url))
    execution = run(api, workflow_id, [{"n": 41}])
    assert execution["status"] == "succeeded", execution
    assert execution["output"][0]["echoed"] == 41
    call = execution["nodes"]["call"]["output"][0]
    assert call["status"] == 200 and call["body"]["path"] == "/orders?source=flowtape"
    sent = [r for r in fake_api.requests if r["path"] == "/orders?source=flowtape"][-1]
    headers = {k.lower(): v for k, v in sent["headers"].items()}  # type: ignore[union-attr]
    assert headers["x-test"] == "yes"
    assert headers["idempotency-key"] == f"{execution['id']}:call:1"


def test_http_request_failure_fails_the_execution(api: httpx.Client, fake_api: FakeApi) -> None:
    definition = workflows.http_call(fake_api.url)
    definition["nodes"][1]["params"]["url"] = fake_api.url + "/status/503"
    workflow_id = create(api, definition)
    execution = run(api, workflow_id, [{"n": 1}])
    assert execution["status"] == "failed"
    assert execution["failed_node"] == "call"
    assert "503" in execution["nodes"]["call"]["error"]
    assert execution["nodes"]["pick"]["status"] == "pending"


def test_code_node_runs_python(api: httpx.Client) -> None:
    source = "def run(items):\n    return [{'total': sum(i['n'] for i in items)}]"
    workflow_id = create(api, workflows.code(source))
    execution = run(api, workflow_id, [{"n": 2}, {"n": 5}])
    assert execution["status"] == "succeeded"
    assert execution["output"] == [{"total": 7}]


def test_code_node_over_its_time_limit_fails_the_execution(api: httpx.Client) -> None:
    source = "def run(items):\n    while True:\n        pass"
    workflow_id = create(api, workflows.code(source, timeout_seconds=1, name="spin"))
    execution = run(api, workflow_id, [{}])
    assert execution["status"] == "failed"
    assert execution["failed_node"] == "py"
    assert "time limit" in execution["nodes"]["py"]["error"]


def test_invalid_workflow_is_refused_naming_the_node(api: httpx.Client) -> None:
    definition = {
        "name": "broken",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "mystery", "type": "teleport"},
        ],
        "edges": [{"from": "start", "to": "mystery"}],
    }
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow"
    assert "mystery" in error["message"] and "teleport" in error["message"]
    assert any(detail.get("node") == "mystery" for detail in error["details"])


@pytest.mark.parametrize(
    ("mutation", "needle"),
    [
        (lambda d: d["edges"].append({"from": "small", "to": "calc"}), "cycle"),
        (lambda d: d["edges"].append({"from": "calc", "to": "nowhere"}), "nowhere"),
        (lambda d: d["nodes"][2]["params"].update(condition=5, extra=1), "check"),
        (lambda d: d["nodes"].pop(0), "trigger"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(api: httpx.Client, mutation: Any, needle: str) -> None:
    import copy

    definition = copy.deepcopy(workflows.BRANCHING)
    mutation(definition)
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 422, response.text
    assert needle in response.text


def test_workflow_versions_and_listing(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.chain(3, name="versioned"))
    updated = api.put(f"/api/v1/workflows/{workflow_id}", json=workflows.chain(4, name="versioned"))
    assert updated.status_code == 200 and updated.json()["version"] == 2
    versions = api.get(f"/api/v1/workflows/{workflow_id}/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    first = api.get(f"/api/v1/workflows/{workflow_id}/versions/1").json()
    assert len(first["nodes"]) == 3
    execution = run(api, workflow_id, [{"n": 0}])
    assert execution["workflow_version"] == 2
    listed = api.get("/api/v1/executions", params={"workflow_id": workflow_id}).json()["items"]
    assert [e["id"] for e in listed] == [execution["id"]]
    assert listed[0]["status"] == "succeeded"
    assert api.delete(f"/api/v1/workflows/{workflow_id}").status_code == 200
    assert api.get(f"/api/v1/workflows/{workflow_id}").status_code == 404
    assert api.get(f"/api/v1/executions/{execution['id']}").status_code == 200


def test_pagination_walks_every_execution_once(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.chain(2, name="paged"))
    ids = {run(api, workflow_id, [{"n": i}])["id"] for i in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"workflow_id": workflow_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/v1/executions", params=params).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)


def test_run_without_wait_returns_an_execution_id(api: httpx.Client) -> None:
    workflow_id = create(api, workflows.code("def run(items):\n    return items", name="async"))
    response = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"x": 1}]})
    assert response.status_code == 202
    execution_id = response.json()["execution_id"]
    detail = api.get(f"/api/v1/executions/{execution_id}")
    assert detail.status_code == 200 and detail.json()["workflow_id"] == workflow_id


def test_errors_have_one_shape(api: httpx.Client, platform: Platform) -> None:
    missing = api.get("/api/v1/executions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    garbage = api.post("/api/v1/workflows", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 422 and "error" in garbage.json()
    too_big = api.post("/api/v1/workflows", content=b"x" * (11 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    bad_cursor = api.get("/api/v1/executions", params={"cursor": "nonsense"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_input"
    for body in (missing.text, garbage.text, too_big.text, bad_cursor.text):
        assert "Traceback" not in body


def test_openapi_and_node_catalog(api: httpx.Client) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/workflows", "/api/v1/workflows/{workflow_id}/run", "/api/v1/executions/{execution_id}/state"):
        assert path in spec["paths"]
    catalog = {entry["type"]: entry for entry in api.get("/api/v1/nodes").json()}
    expected = {
        "manual_trigger",
        "webhook",
        "schedule",
        "set",
        "if",
        "switch",
        "merge",
        "http_request",
        "code",
        "wait",
        "respond",
        "noop",
    }
    assert expected <= set(catalog)
    assert catalog["if"]["ports"] == ["true", "false"]
    assert "url" in catalog["http_request"]["params_schema"]["properties"]


def test_every_service_serves_health_readiness_and_metrics(platform: Platform) -> None:
    for process in platform.processes.values():
        assert httpx.get(f"{process.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["broker"] is True
        metrics = httpx.get(f"{process.url}/metrics")
        assert metrics.status_code == 200 and "# TYPE" in metrics.text
        # what a dashboard charts for any Python service: its CPU and memory, and its garbage collections
        for family in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_gc_collections_total"):
            assert family in metrics.text, f"{process.name} /metrics lacks {family}"
