"""Replay check: would a workflow version have taken the same path over recorded runs?

The scheduling core re-drives the version over each recorded execution's log with no side effects: pure
nodes are evaluated with the version's own parameters (they are deterministic and free of I/O), I/O nodes
give back their recorded outputs. Where the version would run a node the recording never ran, its effect is
unknown, and that alone is a difference worth reporting.
"""

from __future__ import annotations

from typing import Any

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, NodeType, execute_node
from flowtape.engine.domain.execution import Execution, NodeRun
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.scheduling import decide


async def redrive(graph: WorkflowGraph, recorded: Execution, pure: dict[str, NodeType[Any]]) -> dict[str, NodeRun]:
    """The node states ``graph`` reaches over ``recorded``'s trigger and recorded I/O outputs."""
    nodes = {node_id: NodeRun() for node_id in graph.nodes}
    while True:
        decision = decide(graph, nodes, recorded.trigger, recorded.input_overrides)
        if decision.empty:
            return nodes
        for node_id in decision.skip:
            nodes[node_id].status = "skipped"
        for node_id, items in decision.ready:
            spec = graph.nodes[node_id]
            run = nodes[node_id]
            run.input = items
            before = recorded.nodes.get(node_id)
            if spec.type == "wait":
                run.status, run.ports = "succeeded", {"main": items}
            elif spec.type in pure:
                ctx = NodeContext(
                    execution_id=str(recorded.id),
                    workflow_id=recorded.workflow_id,
                    workflow_version=recorded.workflow_version,
                    node_id=node_id,
                    trigger=recorded.trigger,
                    node_outputs={n: r.output for n, r in nodes.items() if r.status == "succeeded"},
                    request=recorded.trigger_meta.get("request"),
                )
                try:
                    run.ports = (await execute_node(pure[spec.type], spec.params, ctx, items)).ports
                    run.status = "succeeded"
                except NodeError as exc:
                    run.status, run.error = "failed", exc.message
            elif before is not None and before.status == "succeeded":
                run.status, run.ports = "succeeded", before.ports
            elif before is not None and before.status == "failed":
                run.status, run.error = "failed", before.error
            else:
                run.status, run.error = "failed", "not run in the recording: its outcome is unknown"


def _port(run: NodeRun | None) -> str | None:
    if run is None or run.status != "succeeded":
        return None
    with_items = sorted(port for port, items in run.ports.items() if items)
    return ",".join(with_items) or None


def differences(recorded: Execution, replayed: dict[str, NodeRun]) -> list[dict[str, Any]]:
    found = []
    for node_id in sorted(set(recorded.nodes) | set(replayed)):
        before, after = recorded.nodes.get(node_id), replayed.get(node_id)
        was = before.status if before else "absent"
        now = after.status if after else "absent"
        if was == "pending" and now == "pending":
            continue
        if was != now or _port(before) != _port(after):
            found.append(
                {
                    "node": node_id,
                    "recorded": {"status": was, "port": _port(before)},
                    "replayed": {"status": now, "port": _port(after), "note": after.error if after else None},
                }
            )
    return found
