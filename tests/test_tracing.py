"""End to end: one trace per execution, from the webhook's HTTP request through the bus hops and the engine's
decisions to each node task and the node's own outgoing HTTP call, with the services as separate processes
exporting OTLP/HTTP to a receiver in this test process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import FakeApi, Platform, running_platform, secrets_in_logs
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("traced")
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "FLOWTAPE_LOG_LEVEL": "debug",  # the engine's and the connectors' lines per decision and node task
    }
    with running_platform(workdir, "flowtape-trace", "flowtape_trace", env) as platform:
        yield platform
    leaked = secrets_in_logs(sorted(workdir.glob("*.log")), {platform.secret_key})
    assert not leaked, f"secrets found in the service logs: {leaked}"


@pytest.fixture(scope="module")
def api(traced: Platform) -> Iterator[httpx.Client]:
    assert traced.admin is not None
    with httpx.Client(base_url=traced.gateway, timeout=60, headers=traced.admin.headers) as client:
        yield client


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


def _workflow(path: str, url: str) -> dict[str, Any]:
    return {
        "name": f"traced-{path}",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "method": "POST", "respond": "last_node"}},
            {"id": "before", "type": "set", "params": {"fields": {"stage": "before"}}},
            {"id": "call", "type": "http_request", "params": {"method": "POST", "url": url, "json": {"n": 1}}},
            {"id": "after", "type": "set", "params": {"fields": {"stage": "after"}}},
        ],
        "edges": [{"from": "hook", "to": "before"}, {"from": "before", "to": "call"}, {"from": "call", "to": "after"}],
    }


def _connected(spans: list[ReceivedSpan]) -> list[str]:
    """What is wrong with ``spans`` as one tree: roots other than one, parents never received."""
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if not span.parent_span_id]
    problems = [f"{len(roots)} roots: {[r.name for r in roots]}"] if len(roots) != 1 else []
    problems += [
        f"{span.service}/{span.name} has a parent never received"
        for span in spans
        if span.parent_span_id and span.parent_span_id not in ids
    ]
    return problems


def _ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_a_webhook_run_is_one_trace_from_the_request_to_the_nodes_http_call(
    traced: Platform, api: httpx.Client, receiver: OtlpReceiver, remote: FakeApi
) -> None:
    path = f"traced-{uuid.uuid4().hex[:8]}"
    target = f"{remote.url}/traced/{path}"
    created = api.post("/api/v1/workflows", json=_workflow(path, target))
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200

    answer = httpx.post(f"{traced.gateway}/hooks/{path}", json={"n": 1}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["stage"] == "after"

    # the remote side got W3C trace context
    seen = [r for r in remote.requests if str(r["path"]).startswith(f"/traced/{path}")]
    assert len(seen) == 1
    headers = {str(k).lower(): str(v) for k, v in dict(seen[0]["headers"]).items()}  # type: ignore[call-overload]
    version, trace_id, remote_parent, flags = headers["traceparent"].split("-")
    assert version == "00" and len(trace_id) == 32 and int(flags, 16) & 1  # sampled

    # the execution names its trace
    runs = api.get("/api/v1/executions", params={"workflow_id": workflow_id}).json()["items"]
    assert len(runs) == 1
    execution = api.get(f"/api/v1/executions/{runs[0]['id']}").json()
    assert execution["status"] == "succeeded"
    assert execution["trace_id"] == trace_id

    def complete() -> bool:
        spans = receiver.trace(trace_id)
        services = {span.service for span in spans}
        inline = [s for s in spans if s.service == "flowtape-engine" and s.name == "node set"]
        return (
            {"flowtape-gateway", "flowtape-engine", "flowtape-connectors"} <= services
            and len(inline) == 2
            and any(s.span_id == remote_parent for s in spans)
            and not _connected(spans)
        )

    try:
        receiver.wait_for(complete)
    finally:
        spans = receiver.trace(trace_id)
        print("\n".join(f"{s.service} {s.name} {s.span_id} <- {s.parent_span_id}" for s in spans))
    assert not _connected(spans)

    root = next(span for span in spans if not span.parent_span_id)
    assert root.service == "flowtape-gateway" and root.kind == SERVER and root.name == "POST /hooks/{path:path}"

    # the outgoing call is the node's own client span, under the node task, under an engine decision
    http_call = next(span for span in spans if span.span_id == remote_parent)
    assert http_call.service == "flowtape-connectors" and http_call.kind == CLIENT
    above = _ancestors(http_call, spans)
    assert above[0].name == "node http_request" and above[0].attributes["flowtape.node.id"] == "call"
    assert any(s.service == "flowtape-engine" and s.name.startswith("engine decide") for s in above)
    assert above[-1] is root

    # both inline set nodes are in the trace, each under an engine decision of this execution
    for node in (s for s in spans if s.name == "node set"):
        decision = _ancestors(node, spans)[0]
        assert decision.name.startswith("engine decide")
        assert decision.attributes["flowtape.execution.id"] == execution["id"]

    # every JSON log line written while handling this execution carries its trace
    lines = []
    for log in sorted(traced.workdir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and execution["id"] in line:
                lines.append(json.loads(line))
    services = {line["service"] for line in lines}
    assert {"engine", "connectors"} <= services, lines
    assert all(line.get("trace_id") == trace_id for line in lines), lines


def _recorded_trace(api: httpx.Client, execution_id: str) -> dict[str, Any]:
    events = api.get(f"/api/v1/executions/{execution_id}/events").json()["items"]
    assert events[0]["type"] == "ExecutionStarted"
    return dict(events[0]["data"]["trigger_meta"])


def _wait_status(api: httpx.Client, execution_id: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = dict(api.get(f"/api/v1/executions/{execution_id}").json())
        if execution["status"] == status:
            return execution
        time.sleep(0.3)
    raise AssertionError(f"execution {execution_id} is {execution['status']}, not {status}")


def test_a_fork_is_a_trace_of_its_own_linked_to_its_parents(
    api: httpx.Client, receiver: OtlpReceiver, remote: FakeApi
) -> None:
    path = f"fork-{uuid.uuid4().hex[:8]}"
    workflow = _workflow(path, f"{remote.url}/traced/{path}")
    workflow["nodes"][0]["params"]["respond"] = "immediately"
    workflow_id = api.post("/api/v1/workflows", json=workflow).json()["id"]
    assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200
    answer = httpx.post(f"{api.base_url}/hooks/{path}", json={"n": 2}, timeout=60)
    assert answer.status_code == 202, answer.text
    parent = _wait_status(api, answer.json()["execution_id"], "succeeded")

    replayed = api.post(f"/api/v1/executions/{parent['id']}/replay", json={"from_node": "call"})
    assert replayed.status_code == 202, replayed.text
    fork = _wait_status(api, replayed.json()["execution_id"], "succeeded")
    assert fork["trace_id"] and parent["trace_id"] and fork["trace_id"] != parent["trace_id"]
    assert _recorded_trace(api, fork["id"])["parent_trace"] == _recorded_trace(api, parent["id"])["trace"]

    def first_decision() -> list[ReceivedSpan]:
        return [s for s in receiver.trace(fork["trace_id"]) if s.name == "engine decide start"]

    receiver.wait_for(lambda: bool(first_decision()))
    (start,) = first_decision()
    assert [(trace, kind["flowtape.link"]) for trace, _, kind in start.links] == [
        (parent["trace_id"], "parent_execution")
    ]
    # the fork's own trace begins at the operator's request (the gateway exports its spans in batches of its own:
    # they may arrive after the engine's)
    receiver.wait_for(lambda: any(not s.parent_span_id for s in receiver.trace(fork["trace_id"])))
    roots = [s for s in receiver.trace(fork["trace_id"]) if not s.parent_span_id]
    request = ("flowtape-gateway", "POST /api/v1/executions/{execution_id}/replay")
    assert [(r.service, r.name) for r in roots] == [request]


def test_a_run_resumed_after_an_engine_crash_stays_in_its_trace(
    traced: Platform, api: httpx.Client, receiver: OtlpReceiver, remote: FakeApi
) -> None:
    import time

    path = f"crash-{uuid.uuid4().hex[:8]}"
    workflow = _workflow(path, f"{remote.url}/slow/{path}")  # the remote side answers after 3 s
    workflow["nodes"][0]["params"]["respond"] = "immediately"
    workflow_id = api.post("/api/v1/workflows", json=workflow).json()["id"]
    assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200
    answer = httpx.post(f"{traced.gateway}/hooks/{path}", json={"n": 3}, timeout=60)
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]

    deadline = time.monotonic() + 30
    while not any(str(r["path"]).startswith(f"/slow/{path}") for r in remote.requests):
        assert time.monotonic() < deadline, "the node's call never reached the remote side"
        time.sleep(0.05)
    traced.stop("engine", kill=True)  # while the node's call is in flight
    from tests.infra import wait_ready

    engine = traced.start("engine")
    wait_ready(engine.url, process=engine.popen)
    execution = _wait_status(api, execution_id, "succeeded")

    recorded = _recorded_trace(api, execution_id)["trace"]
    _, trace_id, recorded_span, _ = recorded["traceparent"].split("-")
    assert execution["trace_id"] == trace_id

    def resumed() -> list[ReceivedSpan]:
        return [s for s in receiver.trace(trace_id) if s.name == "engine decide resume"]

    receiver.wait_for(lambda: bool(resumed()))
    (resume,) = resumed()
    assert resume.service == "flowtape-engine" and resume.attributes["flowtape.resumed"] is True
    assert resume.parent_span_id == recorded_span  # a child of the context the run started in
    assert resume.attributes["flowtape.execution.id"] == execution_id
