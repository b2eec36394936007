"""End to end: a credential's rate limit holds across two connectors replicas, and a remote 429 with
Retry-After becomes a scheduled retry instead of a failure."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.infra import FakeApi, Platform, wait_ready
from tests.test_credentials import create_credential, new_token, run_workflow
from tests.test_triggers import create, eventually, executions_of


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for t in ordered[i:] if t - start < window) for i, start in enumerate(ordered)), default=0)


def _succeeded_http_requests(metrics: str) -> float:
    line = 'flowtape_node_runs_total{node_type="http_request",outcome="succeeded"}'
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


def test_a_limit_of_5_per_second_holds_across_two_connectors_replicas(
    api: httpx.Client, platform: Platform, fake_api: FakeApi
) -> None:
    replica = platform.start("connectors", name="connectors-limits-2")
    try:
        wait_ready(replica.url, process=replica.popen)
        token = new_token()
        create_credential(
            api, "limited-api", "http_bearer", {"token": token, "rate_limit": {"per_second": 5, "burst": 5}}
        )
        workflow_id = create(
            api,
            {
                "name": "rate-limited",
                "nodes": [
                    {"id": "start", "type": "manual_trigger"},
                    {
                        "id": "call",
                        "type": "http_request",
                        "params": {"url": f"{fake_api.url}/rated/{{{{ item.n }}}}", "credential": "limited-api"},
                    },
                ],
                "edges": [{"from": "start", "to": "call"}],
            },
        )

        def start(n: int) -> int:
            return api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"n": n}]}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(start, range(50))) == {202}
        eventually(lambda: len(executions_of(api, workflow_id, "succeeded")) == 50, timeout=120, every=1.0)

        arrivals = [float(r["at"]) for r in fake_api.requests if str(r["path"]).startswith("/rated/")]  # type: ignore[arg-type]
        assert len(arrivals) == 50, "every call made once, none failed"
        assert most_in_any_window(arrivals, 1.0) <= 5
        assert executions_of(api, workflow_id, "failed") == []
        # both replicas took a share of the calls: the limit held across them, not within one
        runs = [
            _succeeded_http_requests(httpx.get(f"{platform.processes[name].url}/metrics").text)
            for name in ("connectors", "connectors-limits-2")
        ]
        assert all(count > 0 for count in runs), runs
    finally:
        platform.stop("connectors-limits-2")
        platform.processes.pop("connectors-limits-2", None)


def test_a_remote_429_with_retry_after_is_retried_not_failed(api: httpx.Client, fake_api: FakeApi) -> None:
    execution = run_workflow(
        api,
        {
            "name": "told-to-wait",
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "call", "type": "http_request", "params": {"url": f"{fake_api.url}/limited/once"}},
            ],
            "edges": [{"from": "start", "to": "call"}],
        },
    )

    assert execution["status"] == "succeeded", execution
    assert execution["nodes"]["call"]["attempts"] == 2
    assert execution["nodes"]["call"]["output"][0]["body"] == {"key": "once", "ok": True}
    calls = [r for r in fake_api.requests if r["path"] == "/limited/once"]
    assert float(calls[1]["at"]) - float(calls[0]["at"]) >= 1.0, "the second attempt waited for Retry-After"  # type: ignore[arg-type]
    events = api.get(f"/api/v1/executions/{execution['id']}/events").json()["items"]
    assert "NodeRetryScheduled" in {e["type"] for e in events}
