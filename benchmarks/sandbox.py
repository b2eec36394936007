"""``python -m benchmarks.sandbox [--language javascript]``: what isolating a code node costs per run, without
the platform around it.

Runs the same trivial ``run(items)`` through :class:`flowtape.connectors.sandbox.Sandbox` in each isolation
mode, one run after another (the cost a sequential code node pays), and prints wall time per run. The
modes alternate in rounds so that a machine busy with something else weighs on both alike. The full path
(engine, bus, connectors) is scenario 4 of ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from flowtape.connectors.isolation import Isolation, NamespaceIsolation, ProcessIsolation
from flowtape.connectors.sandbox import Sandbox, SandboxLimits

CODE = {
    "python": "def run(items):\n    return [{**item, 'seen': True} for item in items]\n",
    "javascript": "function run(items) { return items.map((item) => ({ ...item, seen: true })); }",
}
ITEMS = [{"n": n} for n in range(10)]
LIMITS = SandboxLimits(timeout_seconds=10, memory_mb=256)


async def timed_runs(sandbox: Sandbox, count: int, language: str) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        result = await sandbox.run(CODE[language], ITEMS, limits=LIMITS, language=language)
        times.append((time.perf_counter() - started) * 1000)
        assert result.items[0] == {"n": 0, "seen": True}
    return times


async def bench(runs: int, rounds: int, warmup: int, language: str) -> dict[str, list[float]]:
    isolations: dict[str, Isolation] = {"process": ProcessIsolation(), "namespaces": NamespaceIsolation()}
    sandboxes = {name: Sandbox(isolation) for name, isolation in isolations.items()}
    for name, sandbox in sandboxes.items():
        problem = await sandbox.check()
        if problem:
            raise SystemExit(f"{name}: {problem}")
        await timed_runs(sandbox, warmup, language)
    times: dict[str, list[float]] = {name: [] for name in sandboxes}
    for _ in range(rounds):
        for name, sandbox in sandboxes.items():
            times[name] += await timed_runs(sandbox, max(1, runs // rounds), language)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox", description="The cost of code isolation.")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per mode (default 100)")
    parser.add_argument("--rounds", type=int, default=10, help="alternations between the modes (default 10)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per mode first (default 5)")
    parser.add_argument("--language", choices=sorted(CODE), default="python")
    args = parser.parse_args(argv)
    times = asyncio.run(bench(args.runs, args.rounds, args.warmup, args.language))
    print("| mode | runs | median ms | p90 ms | mean ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in times.items():
        ordered = sorted(values)
        p90 = ordered[int(len(ordered) * 0.9) - 1]
        median, mean = statistics.median(values), statistics.mean(values)
        print(f"| {name} | {len(values)} | {median:.1f} | {p90:.1f} | {mean:.1f} |")
    overhead = statistics.median(times["namespaces"]) - statistics.median(times["process"])
    print(f"\nnamespaces cost {overhead:+.1f} ms per run over process (medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
