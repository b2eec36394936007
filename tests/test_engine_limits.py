"""End to end: no input of any size or shape stops the engine (issue 8, findings 1, 4 and 5).

The services run as separate processes on PostgreSQL, where the probe found that one 6 MB webhook body held
the events table's lock forever and every later run answered 504.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psutil
import psycopg

from tests import workflows
from tests.infra import Platform
from tests.test_distributed import create, run

#: the longest the engine may hold the events table's lock for one save
LOCK_BOUND_SECONDS = 5.0


class LockWatch:
    """Polls PostgreSQL for the longest-held exclusive lock on the executions' events table."""

    QUERY = """
        SELECT coalesce(max(extract(epoch FROM now() - a.xact_start)), 0)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.relation = to_regclass('engine.executions_events') AND l.mode = 'ExclusiveLock' AND l.granted
    """

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.longest = 0.0
        self.samples = 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(self.QUERY).fetchone()
                self.longest = max(self.longest, float(row[0]) if row else 0.0)
                self.samples += 1
                time.sleep(0.05)

    @contextmanager
    def watching(self) -> Iterator[LockWatch]:
        thread = threading.Thread(target=self._poll, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)


def webhook(path: str, respond: str = "immediately") -> dict[str, Any]:
    return {
        "name": f"hook-{path}",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "method": "POST", "respond": respond}},
            {"id": "mark", "type": "set", "params": {"fields": {"seen": True}}},
        ],
        "edges": [{"from": "hook", "to": "mark"}],
    }


def one_node(name: str, node: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [{"id": "start", "type": "manual_trigger"}, {"id": "work", **node}],
        "edges": [{"from": "start", "to": "work"}],
    }


def finished(api: httpx.Client, execution_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] in ("succeeded", "failed", "cancelled"):
            return dict(response.json())
        time.sleep(0.2)
    raise AssertionError(f"execution {execution_id} did not finish within {timeout:g} s")


def test_a_six_megabyte_webhook_body_runs_and_the_platform_stays_responsive(
    platform: Platform, api: httpx.Client, anonymous: httpx.Client
) -> None:
    workflow_id = create(api, webhook("big-body"))
    assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200
    body = {"blob": "x" * (6 * 1024 * 1024), "n": 1}
    small = create(api, workflows.BRANCHING)

    with LockWatch(platform.database_url).watching() as locks:
        response = anonymous.post("/hooks/big-body", json=body, timeout=60)
        assert response.status_code == 202, response.text
        big_run = response.json()["execution_id"]
        started = time.monotonic()
        normal = run(api, small, [{"n": 30}])  # the next run does not queue behind the big one
        normal_seconds = time.monotonic() - started
        big = finished(api, big_run)

    assert normal["status"] == "succeeded" and normal["output"][0]["label"] == "big"
    assert normal_seconds < 10, f"a normal run took {normal_seconds:.1f} s after the big webhook"
    assert big["status"] == "succeeded", big.get("error")
    assert big["output"] == [{**body, "seen": True}]
    assert locks.samples > 10
    assert locks.longest < LOCK_BOUND_SECONDS, f"the events table was locked for {locks.longest:.1f} s"
    assert httpx.get(f"{platform.processes['engine'].url}/readyz", timeout=10).status_code == 200


def test_a_code_node_returning_four_mebibytes_succeeds_and_the_next_run_too(api: httpx.Client) -> None:
    big = create(
        api,
        one_node(
            "four-mib", {"type": "code", "params": {"code": "def run(items):\n    return [{'s': 'x' * (4 << 20)}]"}}
        ),
    )
    execution = run(api, big, [{}])
    assert execution["status"] == "succeeded", execution.get("error")
    assert len(execution["output"][0]["s"]) == 4 << 20
    assert run(api, create(api, workflows.BRANCHING), [{"n": 3}])["status"] == "succeeded"


def test_an_expression_that_would_build_hundreds_of_megabytes_fails_its_node_only(
    platform: Platform, api: httpx.Client
) -> None:
    engine = psutil.Process(platform.processes["engine"].popen.pid)
    bomb = create(api, one_node("bomb", {"type": "set", "params": {"fields": {"x": "{{ [('x'*999999)] * 200 }}"}}}))
    concat = create(
        api, one_node("concat", {"type": "set", "params": {"fields": {"x": "{{ 'x'*999999 ~ 'y'*999999 }}"}}})
    )

    for workflow_id in (bomb, concat):
        execution = run(api, workflow_id, [{}])
        assert execution["status"] == "failed"
        error = execution["nodes"]["work"]["error"]
        assert "exceed" in error or "larger than" in error, error

    assert engine.memory_info().rss < 600 * 1024 * 1024, "the engine built the data it should have refused"
    assert run(api, create(api, workflows.BRANCHING), [{"n": 3}])["status"] == "succeeded"


def test_a_workflow_over_the_node_limit_is_refused_and_a_long_one_does_not_stall_others(api: httpx.Client) -> None:
    refused = api.post("/api/v1/workflows", json=workflows.chain(5_000, name="huge"))
    assert refused.status_code == 422, refused.text
    assert "FLOWTAPE_MAX_WORKFLOW_NODES" in refused.json()["error"]["message"]

    long_chain = create(api, workflows.chain(1_000, name="long"))
    short = create(api, workflows.BRANCHING)
    started: list[httpx.Response] = []
    # a chain of inline nodes is decided in one go: its start is answered once the whole chain has run
    starting = threading.Thread(
        target=lambda: started.append(
            api.post(f"/api/v1/workflows/{long_chain}/run", json={"input": [{"n": 1}]}, timeout=120)
        )
    )
    starting.start()
    time.sleep(0.3)
    quick = run(api, short, [{"n": 3}])
    starting.join(timeout=120)
    assert started and started[0].status_code == 202, started
    slow = finished(api, started[0].json()["execution_id"], timeout=120)

    assert slow["status"] == "succeeded", slow.get("error")
    assert quick["status"] == "succeeded"
    assert quick["finished_at"] < slow["finished_at"], "the short run waited for the long decision to end"


def test_a_start_the_engine_does_not_confirm_answers_504_naming_the_run_it_becomes(
    platform: Platform, api: httpx.Client
) -> None:
    workflow_id = create(api, workflows.BRANCHING)
    engine = platform.processes["engine"].popen
    os.kill(engine.pid, signal.SIGSTOP)
    try:
        response = api.post(
            f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": [{"n": 30}]}, timeout=90
        )
    finally:
        os.kill(engine.pid, signal.SIGCONT)
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "timeout"
    execution_id = error["details"]["execution_id"]
    assert execution_id in error["message"]
    execution = finished(api, execution_id)  # the start was only late: the run it names happens
    assert execution["status"] == "succeeded" and execution["output"][0]["label"] == "big"
