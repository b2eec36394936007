"""The deterministic scheduling core: given a graph and an execution's state, what happens next.

No clock, no randomness, no I/O: the same log always yields the same decisions, which is what makes a
recorded run resumable and replayable against a new workflow version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowtape.engine.domain.execution import SETTLED, Items, NodeRun
from flowtape.engine.domain.graph import WorkflowGraph


@dataclass(frozen=True)
class Decision:
    #: nodes whose inputs all settled without delivering a single item
    skip: list[str] = field(default_factory=list)
    #: nodes whose inputs all settled, with the items they receive
    ready: list[tuple[str, Items]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.skip and not self.ready


def node_input(
    graph: WorkflowGraph,
    nodes: Mapping[str, NodeRun],
    node_id: str,
    trigger: Items,
    overrides: Mapping[str, Items] | None = None,
) -> Items:
    if overrides and node_id in overrides:
        return list(overrides[node_id])
    edges = graph.incoming[node_id]
    if not edges:
        return list(trigger)
    items: Items = []
    for edge in edges:
        source = nodes[edge.from_]
        if source.status == "succeeded":
            items.extend(source.ports.get(edge.port, []))
    return items


def ready_nodes(
    graph: WorkflowGraph,
    nodes: Mapping[str, NodeRun],
    trigger: Items,
    overrides: Mapping[str, Items] | None = None,
) -> Decision:
    """Nodes become ready once every node feeding them has settled; a node fed nothing is skipped.

    ``overrides`` replace a node's computed input (a replay with an edited input).
    """
    skip: list[str] = []
    ready: list[tuple[str, Items]] = []
    for node_id in graph.order:
        if nodes[node_id].status != "pending":
            continue
        if not all(nodes[edge.from_].status in SETTLED for edge in graph.incoming[node_id]):
            continue
        if any(nodes[edge.from_].status == "failed" for edge in graph.incoming[node_id]):
            continue
        items = node_input(graph, nodes, node_id, trigger, overrides)
        if graph.incoming[node_id] and not items:
            skip.append(node_id)
        else:
            ready.append((node_id, items))
    return Decision(skip=skip, ready=ready)


def all_settled(nodes: Mapping[str, NodeRun]) -> bool:
    return all(run.status in SETTLED for run in nodes.values())


def final_output(graph: WorkflowGraph, nodes: Mapping[str, NodeRun], finish_order: list[str]) -> Items:
    """The items of the last node(s) that ran: succeeded nodes none of whose successors succeeded."""
    output: Items = []
    for node_id in finish_order:
        run = nodes[node_id]
        if run.status != "succeeded":
            continue
        if any(nodes[s].status == "succeeded" for s in graph.successors(node_id)):
            continue
        output.extend(run.output)
    return output
