"""Many runs waiting at once (issue 15, item 6): N executions paused in a ``wait`` node together, a steady webhook
load beside them, and every service's memory before, at its peak while they wait, and after they finish.

A waiting run must cost the platform a timer and its log, not a task, a connection or a growing cache: the
figures show whether memory stays bounded, and whether every run comes out of its wait and finishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks import load

Memory = dict[str, tuple[float, float]]
#: how often memory is sampled while the runs wait
SAMPLE_SECONDS = 0.5
STARTERS = 16


def definition(seconds: float) -> dict[str, Any]:
    return {
        "name": f"wait-{seconds:g}s",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": seconds}},
            {"id": "done", "type": "set", "params": {"fields": {"done": True}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
    }


@dataclass
class Waiting:
    runs: int
    wait_seconds: float
    #: seconds from the first start to the last start's answer
    start_seconds: float = 0.0
    #: seconds from the first start until every run had succeeded
    finish_seconds: float = 0.0
    #: the most runs seen waiting (status ``waiting``) at one time
    most_waiting: int = 0
    succeeded: int = 0
    not_finished: int = 0
    before: Memory = field(default_factory=dict)
    peak: Memory = field(default_factory=dict)
    after: Memory = field(default_factory=dict)
    webhooks: load.Result = field(default_factory=load.Result)

    def growth_mb(self, service: str) -> float:
        """How much the service's resident memory grew from before the runs to its peak while they waited."""
        return self.peak[service][0] - self.before[service][0]


def _count(client: httpx.Client, workflow_id: str, status: str) -> int:
    counted, cursor = 0, None
    while True:
        params: dict[str, Any] = {"workflow_id": workflow_id, "status": status, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/executions", params=params)
        page.raise_for_status()
        counted += len(page.json()["items"])
        cursor = page.json().get("next_cursor")
        if not cursor:
            return counted


def run(
    url: str,
    headers: dict[str, str],
    memory: Callable[[], Memory],
    *,
    runs: int,
    wait_seconds: float,
    hook: load.Call | None,
    hook_clients: int = 4,
    time_limit: float = 300.0,
) -> Waiting:
    """Start ``runs`` waiting runs at once, call ``hook`` steadily from ``hook_clients`` threads until they have
    all finished, and sample ``memory`` throughout."""
    result = Waiting(runs=runs, wait_seconds=wait_seconds)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        created = client.post("/api/v1/workflows", json=definition(wait_seconds))
        created.raise_for_status()
        workflow_id = created.json()["id"]
        result.before = memory()
        result.peak = dict(result.before)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(SAMPLE_SECONDS):
                for name, (rss, uss) in memory().items():
                    if rss > result.peak.get(name, (0.0, 0.0))[0]:
                        result.peak[name] = (rss, uss)

        def call_hooks() -> None:
            assert hook is not None
            with httpx.Client(base_url=url, timeout=60) as caller:
                while not done.is_set():
                    began = time.perf_counter()
                    try:
                        problem = hook.check(caller.post(hook.path, json=hook.json))
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    if problem is None:
                        result.webhooks.latencies.append(time.perf_counter() - began)
                    else:
                        result.webhooks.record_error(problem)

        background = [threading.Thread(target=sample, daemon=True)]
        background += [threading.Thread(target=call_hooks, daemon=True) for _ in range(hook_clients if hook else 0)]
        began = time.perf_counter()
        for thread in background:
            thread.start()

        def start(n: int) -> None:
            answer = client.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"n": n}]})
            answer.raise_for_status()

        try:
            with ThreadPoolExecutor(max_workers=STARTERS) as pool:
                list(pool.map(start, range(runs)))
            result.start_seconds = time.perf_counter() - began
            deadline = began + time_limit
            while time.perf_counter() < deadline:
                result.most_waiting = max(result.most_waiting, _count(client, workflow_id, "waiting"))
                result.succeeded = _count(client, workflow_id, "succeeded")
                if result.succeeded == runs:
                    break
                time.sleep(0.5)
            result.finish_seconds = time.perf_counter() - began
            result.webhooks.wall = result.finish_seconds
        finally:
            done.set()
            for thread in background:
                thread.join(timeout=70)
        result.not_finished = runs - result.succeeded
        time.sleep(2.0)  # let what the runs left behind be collected before the last reading
        result.after = memory()
    return result
