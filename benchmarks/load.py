"""Load generators: sequential runs on one keep-alive connection, and N concurrent asyncio clients.

A :class:`Call` is one POST and its check: ``run?wait=true`` (a run counts as an error unless it answers 200
with ``status == "succeeded"`` and, when ``expect`` is given, the expected output) or a webhook. The latency is
the client's wall time from sending the request to having read the whole answer; the rate is successful
requests over the wall time of the timed phase. Warm-up requests are not timed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT = 60.0
#: the server-side wait, passed as ``?timeout=``; shorter than the client's so the server answers first
RUN_WAIT_SECONDS = 30

Expect = Callable[[dict[str, Any]], bool]

# httpcore imports ``sniffio`` lazily on every lock it sets up; when sniffio is not installed (anyio >= 4.11 no
# longer pulls it in) each failed import walks sys.path again: ~0.7 ms of the load generator's CPU per request
# on this machine, taken from the platform under test (encode/httpcore discussion #1102, PR #1103). Marking the
# module as absent makes the failed import immediate; httpcore then assumes asyncio, which is what runs here.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, successful runs only
    errors: int = 0
    wall: float = 0.0
    stopped_by: str = "count"  # "count", "duration" or "time limit"
    first_error: str | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, p: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        # inclusive method: interpolates between order statistics, never beyond the observed min/max
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[round(p) - 1] * 1000

    @property
    def p50_ms(self) -> float | None:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float | None:
        return self.percentile_ms(99)

    @property
    def mean_ms(self) -> float | None:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else None

    @property
    def per_second(self) -> float | None:
        return self.ok / self.wall if self.wall > 0 else None

    def record_error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text[:300]


Check = Callable[[httpx.Response], str | None]


@dataclass(frozen=True)
class Call:
    """One request of a benchmark: what to send, and how to tell that it worked (None) or why not."""

    path: str
    json: Any
    check: Check
    params: dict[str, str] = field(default_factory=dict)


def execution_check(expect: Expect | None = None) -> Check:
    """For ``run?wait=true``: 200 with a succeeded execution (and, with ``expect``, the expected output)."""

    def check(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        body = response.json()
        if body.get("status") != "succeeded":
            return f"execution {body.get('id')} {body.get('status')}: {body.get('error')}"
        if expect is not None and not expect(body):
            return f"execution {body.get('id')} produced unexpected output {str(body.get('output'))[:200]}"
        return None

    return check


def run_call(workflow_id: str, items: list[dict[str, Any]], expect: Expect | None = None) -> Call:
    return Call(
        path=f"/api/v1/workflows/{workflow_id}/run",
        params={"wait": "true", "timeout": str(RUN_WAIT_SECONDS)},
        json={"input": items},
        check=execution_check(expect),
    )


def sequential(
    url: str,
    call: Call,
    *,
    runs: int,
    warmup: int,
    time_limit: float,
    headers: dict[str, str] | None = None,
) -> Result:
    result = Result()
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT, headers=headers) as client:
        for _ in range(warmup):
            problem = call.check(client.post(call.path, params=call.params, json=call.json))
            if problem:
                raise RuntimeError(f"warm-up run failed: {problem}")
        started = time.perf_counter()
        deadline = started + time_limit
        for _ in range(runs):
            if time.perf_counter() >= deadline:
                result.stopped_by = "time limit"
                break
            t0 = time.perf_counter()
            try:
                response = client.post(call.path, params=call.params, json=call.json)
            except httpx.HTTPError as exc:
                result.record_error(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - t0
            problem = call.check(response)
            if problem:
                result.record_error(problem)
            else:
                result.latencies.append(elapsed)
        result.wall = time.perf_counter() - started
    return result


async def _concurrent(
    url: str,
    call: Call,
    *,
    concurrency: int,
    total: int | None,
    duration: float | None,
    warmup: int,
    time_limit: float,
    headers: dict[str, str] | None,
) -> Result:
    result = Result()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT, limits=limits, headers=headers) as client:

        async def one() -> tuple[float, str | None]:
            t0 = time.perf_counter()
            try:
                response = await client.post(call.path, params=call.params, json=call.json)
            except httpx.HTTPError as exc:
                return time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
            return time.perf_counter() - t0, call.check(response)

        # warm-up: open the pool's connections and let every service reach its steady state
        for _, problem in await asyncio.gather(*(one() for _ in range(max(warmup, concurrency)))):
            if problem:
                raise RuntimeError(f"warm-up run failed: {problem}")

        started = time.perf_counter()
        stop_at = started + min(duration if duration is not None else time_limit, time_limit)
        issued = 0

        async def client_loop() -> None:
            nonlocal issued
            while True:
                if total is not None and issued >= total:
                    return
                if time.perf_counter() >= stop_at:
                    result.stopped_by = "duration" if duration is not None else "time limit"
                    return
                issued += 1
                elapsed, problem = await one()
                if problem:
                    result.record_error(problem)
                else:
                    result.latencies.append(elapsed)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        result.wall = time.perf_counter() - started
    return result


def concurrent(
    url: str,
    call: Call,
    *,
    concurrency: int,
    total: int | None,
    duration: float | None,
    warmup: int,
    time_limit: float,
    headers: dict[str, str] | None = None,
) -> Result:
    return asyncio.run(
        _concurrent(
            url,
            call,
            concurrency=concurrency,
            total=total,
            duration=duration,
            warmup=warmup,
            time_limit=time_limit,
            headers=headers,
        )
    )
