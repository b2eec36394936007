"""The decider alone: CPU per first decision of a 20-node ``set`` chain, no I/O, no bus, no database.

``python -m benchmarks.decider`` prints one table. It isolates the engine's pure share of a chain run (the
scheduling core, rendering each node's expression, validating its parameters, applying the events to the
aggregate) from saving, projecting and messaging, so a change to the decider can be measured in seconds on a
busy machine: it reports process CPU time (not wall time), the best of several rounds.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.engine.domain.decider import Circumstances, Started, decide
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from tests.workflows import chain

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _first_decision(graph: WorkflowGraph, circumstances: Circumstances) -> None:
    execution = Execution.begin(
        None,
        workflow_id="wf",
        workflow_version=1,
        trigger=[{"n": 1}],
        trigger_meta={},
        node_ids=list(graph.nodes),
        deadline=None,
    )
    decide(execution, graph, Started(), circumstances)
    if execution.status != "succeeded":
        raise RuntimeError(f"the chain did not finish in its first decision: {execution.status}")


def measure(length: int, runs: int, rounds: int) -> float:
    """Best CPU milliseconds per first decision of a chain of ``length`` nodes over ``rounds`` rounds."""
    graph = WorkflowGraph.from_dict(chain(length))
    inline = {cls.type: cls() for cls in BUILTIN_NODES if cls.pure}
    circumstances = Circumstances(now=NOW, inline=inline, jitter=0.5)
    for _ in range(min(runs, 50)):
        _first_decision(graph, circumstances)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(runs):
            _first_decision(graph, circumstances)
        best = min(best, (time.process_time() - started) * 1000 / runs)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="decisions per round (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts (default 5)")
    args = parser.parse_args()
    table = Table(title="the decider alone (CPU per first decision, best round)")
    table.add_column("chain of set nodes")
    table.add_column("CPU ms", justify="right")
    for length in (5, 20, 50):
        table.add_row(str(length), f"{measure(length, args.runs, args.rounds):.3f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
