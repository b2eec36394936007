"""``python -m benchmarks``: start a platform per mode, measure the scenarios, print the table.

Scenarios, per mode:

1. a 20-node chain of ``set`` nodes, run sequentially with ``?wait=true`` (latency percentiles, executions/s);
2. the same chain from N concurrent asyncio clients (executions/s, latency percentiles);
3. resident memory of each service process idle right after start and again after the load;
4. a 20-node chain whose middle node is a ``code`` node (a sandboxed Python process per run), sequentially;
5. a webhook -> set -> if -> set flow at 32 clients, once webhook triggers answer (else the row says n/a);
6. a 20-node chain of the data library's pure nodes (text, dates, hashing, filter, sort...), sequentially and
   from N concurrent clients, next to the ``set`` chain (``benchmarks/library_chain.py``);
7. a workflow with one ``http_request`` to a local echo server, sequentially (``benchmarks/http_call.py``);
8. N runs waiting in a ``wait`` node at once beside a steady webhook load: all finish, memory before, at its
   peak and after (``benchmarks/waiting.py``).

Everything is bounded: counts, a per-phase time limit and a time limit for the whole run (SIGALRM), after
which the platforms are stopped and their vhost, database and directories removed.
"""

from __future__ import annotations

import argparse
import copy
import secrets
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil

from benchmarks import http_call, library_chain, load, waiting
from benchmarks.platforms import PLATFORMS, Target, use_bytecode_cache
from benchmarks.profile import (
    Recorder,
    cpu_seconds,
    infra_cpu_seconds,
    infra_delta,
    machine_busy,
    own_cpu_seconds,
    py_spy,
    summarize,
)
from benchmarks.report import CpuRow, Report, Row, fmt, machine, markdown, print_rich, verdict
from tests import workflows

# Targets of issue 9 (Engine 2), for this 2-core machine.
TARGET_P50_MS = {"distributed": 12.0, "embedded": 6.0}  # 20-node chain, sequential
TARGET_RATE = {"distributed": 200.0}  # 20-node chain executions/s, 16 concurrent clients
TARGET_WEBHOOK_RATE = {"distributed": 250.0, "embedded": 400.0}  # webhook->set->if->set, 32 clients
TARGET_WEBHOOK_P99_MS = {"distributed": 250.0}
TARGET_HTTP_P50_MS = {"distributed": 10.0}  # one http_request to a local server, sequential
TARGET_ENGINE_CPU_MS = 3.0  # engine CPU per 20-node chain execution (distributed)
TARGET_GATEWAY_CPU_MS = 1.5  # gateway CPU per request (distributed)
TARGET_IDLE_MB = {"distributed": 400.0, "embedded": 150.0}
WEBHOOK_CLIENTS = 32
WEBHOOKS_NOT_BUILT = "n/a (webhook triggers not built yet)"
SETTLE_SECONDS = 2.0


class TimeLimit(Exception):
    pass


def code_chain(length: int = 20) -> dict[str, Any]:
    """``chain(length)`` with its middle node replaced by a ``code`` node that marks each item."""
    definition = workflows.chain(length, name="code-chain")
    middle = length // 2
    definition["nodes"][middle] = {
        "id": f"n{middle}",
        "type": "code",
        "params": {"code": "def run(items):\n    return [{**item, 'code': True} for item in items]"},
    }
    return definition


def expect_chain(length: int, code_at: int | None = None) -> Callable[[dict[str, Any]], bool]:
    expected: dict[str, Any] = {"n": 1}
    for i in range(1, length):
        if i == code_at:
            expected["code"] = True
        else:
            expected[f"f{i}"] = 1 + i

    def check(execution: dict[str, Any]) -> bool:
        return execution.get("output") == [expected]

    return check


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Flowtape latency, throughput and memory, embedded and distributed (127.0.0.1 only).",
    )
    parser.add_argument("--mode", choices=("embedded", "distributed", "both"), default="both")
    parser.add_argument("--runs", type=int, default=200, help="sequential runs of the chain (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    phase = parser.add_mutually_exclusive_group()
    phase.add_argument("--total", type=int, default=None, help="executions in the concurrent phase (default 1000)")
    phase.add_argument("--duration", type=float, default=None, help="seconds of concurrent load instead of --total")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs before each phase (default 20)")
    parser.add_argument("--chain-length", type=int, default=20, help="nodes in the chain (default 20)")
    parser.add_argument(
        "--code-runs", type=int, default=50, help="sequential runs of the chain with a code node (0 skips it)"
    )
    parser.add_argument(
        "--http-runs", type=int, default=200, help="sequential runs of the one-http_request workflow (0 skips it)"
    )
    parser.add_argument(
        "--library-runs", type=int, default=200, help="sequential runs of the library-node chain (0 skips it)"
    )
    parser.add_argument(
        "--waiting-runs", type=int, default=1000, help="runs waiting in a wait node at once (default 1000; 0 skips)"
    )
    parser.add_argument("--waiting-seconds", type=float, default=20.0, help="their wait (default 20 s)")
    parser.add_argument("--phase-time-limit", type=float, default=300.0, help="seconds per phase (default 300)")
    parser.add_argument("--time-limit", type=int, default=1800, help="seconds for the whole run (default 1800)")
    parser.add_argument("--markdown", action="store_true", help="print the results as markdown")
    parser.add_argument(
        "--keep-logs", type=Path, default=None, metavar="DIR", help="copy the services' logs into DIR at the end"
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start the services as the shell would (with PYTHONDONTWRITEBYTECODE, compiling from source)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record py-spy profiles of every service during the two chain phases into DIR",
    )
    args = parser.parse_args(argv)
    if args.total is None and args.duration is None:
        args.total = 1000
    for name in ("runs", "concurrency", "chain_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.profile is not None and py_spy() is None:
        parser.error("--profile needs py-spy on PATH or beside the venv's python: `uv pip install py-spy`")
    if args.chain_length < 3 and args.code_runs:
        parser.error("--chain-length must be at least 3 for the code-node chain")
    return args


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def sign_in(url: str) -> dict[str, str]:
    """The first admin's headers (``auth/setup`` then ``auth/login``), or none on a platform without auth."""
    email, password = "bench@flowtape.test", f"bench-{secrets.token_urlsafe(18)}"
    response = httpx.post(f"{url}/api/v1/auth/setup", json={"email": email, "password": password}, timeout=60)
    if response.status_code in (404, 405):
        return {}
    if response.status_code != 201:
        raise RuntimeError(f"setting up the first admin failed: {response.status_code} {response.text[:300]}")
    response = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"signing in failed: {response.status_code} {response.text[:300]}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_workflow(url: str, definition: dict[str, Any], headers: dict[str, str]) -> str:
    response = httpx.post(f"{url}/api/v1/workflows", json=definition, headers=headers, timeout=60)
    if response.status_code != 201:
        raise RuntimeError(f"creating {definition['name']} failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["id"])


def webhook_call(url: str, headers: dict[str, str]) -> tuple[load.Call | None, str]:
    """The branching webhook flow, activated and answering, or None and why it cannot be measured."""
    path = f"bench-{uuid.uuid4().hex[:8]}"
    definition = copy.deepcopy(workflows.BRANCHING)
    definition["name"] = "bench-webhook"
    definition["nodes"][0]["params"]["path"] = path
    try:
        workflow_id = create_workflow(url, definition, headers)
    except RuntimeError as exc:
        return None, f"n/a (webhook workflow refused: {exc})"
    activated = httpx.post(f"{url}/api/v1/workflows/{workflow_id}/activate", headers=headers, timeout=60)
    if activated.status_code != 200:
        return None, WEBHOOKS_NOT_BUILT
    expected = {"n": 30, "doubled": 60, "label": "big"}

    def check(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        if response.json() != expected:
            return f"unexpected answer {response.text[:200]}"
        return None

    call = load.Call(path=f"/hooks/{path}", json={"n": 30}, check=check)
    deadline = time.monotonic() + 15  # the route reaches the gateway through the triggers service
    problem: str | None = "not tried"
    while time.monotonic() < deadline:
        problem = check(httpx.post(f"{url}{call.path}", json=call.json, timeout=60))
        if problem is None:
            return call, ""
        time.sleep(0.5)
    return None, f"n/a (webhook does not answer: {problem})"


def _runs(result: load.Result) -> str:
    return f"{result.ok}/{result.errors}"


def _notes(result: load.Result, extra: str = "") -> str:
    notes = [extra] if extra else []
    if result.stopped_by != "count":
        notes.append(f"stopped by {result.stopped_by} after {result.wall:.0f} s")
    if result.first_error:
        notes.append(f"first error: {result.first_error}")
    return "; ".join(notes)


def _result_row(mode: str, scenario: str, result: load.Result, **columns: str) -> Row:
    """A row of a timed phase: its runs, latency percentiles and rate, beside ``columns`` (target, notes...)."""
    return Row(
        mode=mode,
        scenario=scenario,
        runs=_runs(result),
        p50=fmt(result.p50_ms),
        p99=fmt(result.p99_ms),
        mean=fmt(result.mean_ms),
        rate=fmt(result.per_second),
        **columns,
    )


def _memory_row(mode: str, label: str, memory: dict[str, tuple[float, float]], target: float | None) -> Row:
    total = sum(rss for rss, _ in memory.values())
    private = sum(uss for _, uss in memory.values())
    notes = f"USS (private) {private:.0f} MB"
    if len(memory) > 1:
        notes += "; RSS/USS per service: " + ", ".join(f"{n} {r:.0f}/{u:.0f}" for n, (r, u) in memory.items())
    scope = f"sum of {len(memory)} services" if len(memory) > 1 else "1 process"
    return Row(
        mode=mode,
        scenario=f"RSS {label} ({scope})",
        rss=f"{total:.0f}",
        target=f"≤ {target:.0f} MB" if target is not None else "",
        verdict=verdict(total <= target) if target is not None else "",
        notes=notes,
    )


@contextmanager
def profiling(directory: Path | None, pids: dict[str, int], label: str, report: Report) -> Iterator[None]:
    """py-spy on every service for the duration of the block (when ``--profile`` is given)."""
    if directory is None:
        yield
        return
    recorder = Recorder(directory, pids, label)
    recorder.start()
    try:
        yield
    finally:
        recorder.stop()
    report.hotspots[label] = [summarize(name, path) for name, path in recorder.files.items()]


def bench_mode(mode: str, args: argparse.Namespace, report: Report) -> None:
    progress(f"{mode}: starting the platform")
    with PLATFORMS[mode](args.keep_logs) as target:
        progress(f"{mode}: ready at {target.url} (pids {target.pids})")
        time.sleep(SETTLE_SECONDS)
        idle = target.memory_mb()
        headers = sign_in(target.url)
        chain_id = create_workflow(target.url, workflows.chain(args.chain_length), headers)
        chain = load.run_call(chain_id, [{"n": 1}], expect_chain(args.chain_length))

        progress(f"{mode}: {args.runs} sequential runs of the {args.chain_length}-node chain")
        with profiling(args.profile, target.pids, f"{mode}-sequential", report):
            seq = load.sequential(
                target.url,
                chain,
                runs=args.runs,
                warmup=args.warmup,
                time_limit=args.phase_time_limit,
                headers=headers,
            )
        report.rows.append(
            _result_row(
                mode,
                f"chain({args.chain_length}) of set, sequential",
                seq,
                target=f"p50 ≤ {TARGET_P50_MS[mode]:g} ms",
                verdict=verdict(seq.p50_ms is not None and seq.p50_ms <= TARGET_P50_MS[mode]),
                notes=_notes(seq, "profiled: py-spy attached" if args.profile else ""),
            )
        )

        amount = f"{args.total} runs" if args.total is not None else f"{args.duration:g} s"
        progress(f"{mode}: {args.concurrency} concurrent clients, {amount}")
        with profiling(args.profile, target.pids, f"{mode}-concurrent", report):
            cpu_before, own_before = cpu_seconds(target.pids), own_cpu_seconds()
            infra_before, machine_before = infra_cpu_seconds(), psutil.cpu_times()
            conc = load.concurrent(
                target.url,
                chain,
                concurrency=args.concurrency,
                total=args.total,
                duration=args.duration,
                warmup=args.warmup,
                time_limit=args.phase_time_limit,
                headers=headers,
            )
            cpu_after, own_after = cpu_seconds(target.pids), own_cpu_seconds()
            infra_after, machine_after = infra_cpu_seconds(), psutil.cpu_times()
        # the CPU readings span the warm-up too, so they are divided by every execution in the phase
        executions = conc.ok + conc.errors + max(args.warmup, args.concurrency)
        busy, capacity = machine_busy(machine_before, machine_after)
        ours = sum(cpu_after[n] - cpu_before[n] for n in target.pids) + (own_after - own_before)
        infra_by_name = infra_delta(infra_before, infra_after)
        infra = sum(infra_by_name.values())
        per_service_ms = {n: (cpu_after[n] - cpu_before[n]) * 1000 / executions for n in target.pids}
        report.cpu.append(
            CpuRow(
                mode=mode,
                executions=executions,
                per_service_ms=per_service_ms,
                client_ms=(own_after - own_before) * 1000 / executions,
                postgres_ms=infra_by_name["postgres"] * 1000 / executions,
                rabbitmq_ms=infra_by_name["beam.smp"] * 1000 / executions,
                busy=busy,
                others=max(0.0, busy - (ours + infra) / capacity) if capacity else 0.0,
                wall=conc.wall,
            )
        )
        report.rows.append(
            _result_row(
                mode,
                f"chain({args.chain_length}) of set, {args.concurrency} clients",
                conc,
                target=f"≥ {TARGET_RATE[mode]:g} exec/s" if mode in TARGET_RATE else "(target is distributed)",
                verdict=verdict(conc.per_second is not None and conc.per_second >= TARGET_RATE[mode])
                if mode in TARGET_RATE
                else "",
                notes=_notes(conc, "profiled: py-spy attached" if args.profile else ""),
            )
        )
        if mode == "distributed":
            report.rows.extend(_cpu_rows(per_service_ms))

        if args.http_runs:
            bench_http_call(target.url, headers, mode, args, report)

        if args.library_runs:
            bench_library_chain(target.url, headers, mode, args, report)

        if args.code_runs:
            code_id = create_workflow(target.url, code_chain(args.chain_length), headers)
            expect_code = expect_chain(args.chain_length, code_at=args.chain_length // 2)
            progress(f"{mode}: {args.code_runs} sequential runs of the chain with a code node")
            code = load.sequential(
                target.url,
                load.run_call(code_id, [{"n": 1}], expect_code),
                runs=args.code_runs,
                warmup=min(args.warmup, 5),
                time_limit=args.phase_time_limit,
                headers=headers,
            )
            report.rows.append(
                _result_row(
                    mode,
                    f"chain({args.chain_length}) with 1 code node, sequential",
                    code,
                    notes=_notes(code, "informational (no target)"),
                )
            )

        hook, why_not = webhook_call(target.url, headers)
        scenario = f"webhook→set→if→set, {WEBHOOK_CLIENTS} clients"
        if hook is None:
            report.rows.append(Row(mode=mode, scenario=scenario, target=why_not, verdict="n/a"))
        else:
            progress(f"{mode}: {WEBHOOK_CLIENTS} concurrent webhook clients, {amount}")
            hooks = load.concurrent(
                target.url,
                hook,
                concurrency=WEBHOOK_CLIENTS,
                total=args.total,
                duration=args.duration,
                warmup=args.warmup,
                time_limit=args.phase_time_limit,
            )
            report.rows.append(
                _result_row(
                    mode,
                    scenario,
                    hooks,
                    target=_webhook_target(mode),
                    verdict=verdict(
                        hooks.per_second is not None
                        and hooks.per_second >= TARGET_WEBHOOK_RATE[mode]
                        and (
                            mode not in TARGET_WEBHOOK_P99_MS
                            or (hooks.p99_ms is not None and hooks.p99_ms <= TARGET_WEBHOOK_P99_MS[mode])
                        )
                    ),
                    notes=_notes(hooks, "respond: last_node"),
                )
            )
        time.sleep(SETTLE_SECONDS)
        after = target.memory_mb()
        report.rows.append(_memory_row(mode, "idle after start", idle, TARGET_IDLE_MB[mode]))
        report.rows.append(_memory_row(mode, "after the load", after, None))
        if args.waiting_runs:
            bench_waiting(target, headers, mode, args, report)
        progress(f"{mode}: done, stopping the platform")


def _webhook_target(mode: str) -> str:
    target = f"≥ {TARGET_WEBHOOK_RATE[mode]:g}/s"
    if mode in TARGET_WEBHOOK_P99_MS:
        target += f", p99 ≤ {TARGET_WEBHOOK_P99_MS[mode]:g} ms"
    return target


def _cpu_rows(per_service_ms: dict[str, float]) -> list[Row]:
    """Engine CPU per chain execution and gateway CPU per request, from the concurrent chain phase."""
    rows = []
    for service, target in (("engine", TARGET_ENGINE_CPU_MS), ("gateway", TARGET_GATEWAY_CPU_MS)):
        spent = per_service_ms.get(service)
        rows.append(
            Row(
                mode="distributed",
                scenario=f"{service} CPU per chain execution",
                mean=fmt(spent, 2),
                target=f"≤ {target:g} ms",
                verdict=verdict(None if spent is None else spent <= target),
                notes="CPU ms of the process over the concurrent chain phase, per execution (one request each)",
            )
        )
    return rows


def bench_http_call(url: str, headers: dict[str, str], mode: str, args: argparse.Namespace, report: Report) -> None:
    """One ``http_request`` to a local echo server: a hop out to connectors and one back, sequentially."""
    with http_call.echo_server() as server:
        workflow_id = create_workflow(url, http_call.definition(server), headers)
        progress(f"{mode}: {args.http_runs} sequential runs of one http_request")
        seq = load.sequential(
            url,
            load.run_call(workflow_id, [{"n": 1}], http_call.expect()),
            runs=args.http_runs,
            warmup=args.warmup,
            time_limit=args.phase_time_limit,
            headers=headers,
        )
    report.rows.append(
        _result_row(
            mode,
            "http_request to a local server, sequential",
            seq,
            target=f"p50 ≤ {TARGET_HTTP_P50_MS[mode]:g} ms"
            if mode in TARGET_HTTP_P50_MS
            else "(target is distributed)",
            verdict=verdict(seq.p50_ms is not None and seq.p50_ms <= TARGET_HTTP_P50_MS[mode])
            if mode in TARGET_HTTP_P50_MS
            else "",
            notes=_notes(seq),
        )
    )


def bench_library_chain(url: str, headers: dict[str, str], mode: str, args: argparse.Namespace, report: Report) -> None:
    """The 20-node chain of library nodes, sequential and concurrent (the same phases as the set chain)."""
    workflow_id = create_workflow(url, library_chain.library_chain(), headers)
    call = load.run_call(workflow_id, library_chain.INPUT, library_chain.expect_library_chain())
    progress(f"{mode}: {args.library_runs} sequential runs of the library-node chain")
    seq = load.sequential(
        url, call, runs=args.library_runs, warmup=args.warmup, time_limit=args.phase_time_limit, headers=headers
    )
    length = len(library_chain.STEPS) + 1
    report.rows.append(
        _result_row(
            mode,
            f"chain({length}) of library nodes, sequential",
            seq,
            notes=_notes(seq, "informational: compare with the set chain"),
        )
    )
    progress(f"{mode}: {args.concurrency} concurrent clients on the library-node chain")
    conc = load.concurrent(
        url,
        call,
        concurrency=args.concurrency,
        total=args.total,
        duration=args.duration,
        warmup=args.warmup,
        time_limit=args.phase_time_limit,
        headers=headers,
    )
    report.rows.append(
        _result_row(
            mode,
            f"chain({length}) of library nodes, {args.concurrency} clients",
            conc,
            notes=_notes(conc, "informational: compare with the set chain"),
        )
    )


def bench_waiting(target: Target, headers: dict[str, str], mode: str, args: argparse.Namespace, report: Report) -> None:
    hook, _ = webhook_call(target.url, headers)
    progress(f"{mode}: {args.waiting_runs} runs waiting {args.waiting_seconds:g} s at once, webhook load beside")
    result = waiting.run(
        target.url,
        headers,
        target.memory_mb,
        runs=args.waiting_runs,
        wait_seconds=args.waiting_seconds,
        hook=hook,
        time_limit=args.phase_time_limit,
    )
    report.rows.append(
        Row(
            mode=mode,
            scenario=f"{result.runs} runs waiting {result.wait_seconds:g} s at once",
            runs=f"{result.succeeded}/{result.runs}",
            target="all finish",
            verdict=verdict(result.not_finished == 0),
            notes=f"started in {result.start_seconds:.1f} s, all done after {result.finish_seconds:.1f} s, "
            f"at most {result.most_waiting} waiting at once",
        )
    )
    if hook is not None:
        report.rows.append(
            _result_row(
                mode, "webhook→set→if→set beside them, 4 clients", result.webhooks, notes=_notes(result.webhooks)
            )
        )
    for label, memory in (("before", result.before), ("peak", result.peak), ("after", result.after)):
        report.rows.append(_memory_row(mode, f"{result.runs} waiting runs: {label}", memory, None))


def _fail_row(mode: str, error: BaseException) -> Row:
    return Row(mode=mode, scenario="(benchmark failed)", verdict="error", notes=f"{type(error).__name__}: {error}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = ("embedded", "distributed") if args.mode == "both" else (args.mode,)
    amount = f"--total {args.total}" if args.total is not None else f"--duration {args.duration:g}"
    report = Report(
        options=(
            f"--mode {args.mode} --runs {args.runs} --concurrency {args.concurrency} {amount} "
            f"--warmup {args.warmup} --chain-length {args.chain_length} --code-runs {args.code_runs} "
            f"--library-runs {args.library_runs}"
            + (f" --profile {args.profile}" if args.profile else "")
            + (" --no-bytecode-cache" if args.no_bytecode_cache else "")
        )
    )
    info = machine()
    if not args.no_bytecode_cache:
        progress("warming the bytecode cache")
        use_bytecode_cache()

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimit(f"the benchmark exceeded --time-limit {args.time_limit} s")

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(args.time_limit)
    failed = False
    try:
        for mode in modes:
            try:
                bench_mode(mode, args, report)
            except TimeLimit as exc:
                failed = True
                report.rows.append(_fail_row(mode, exc))
                report.failures.append(f"{mode}: {exc}")
                break
            except Exception as exc:
                failed = True
                traceback.print_exc(file=sys.stderr)
                report.rows.append(_fail_row(mode, exc))
                report.failures.append(f"{mode}: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
    if args.markdown:
        print(markdown(report, info), end="")
    else:
        print_rich(report, info)
    return 1 if failed else 0
