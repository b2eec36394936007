"""The deterministic scheduling core: given a graph and an execution's state, what happens next.

No clock, no randomness, no I/O: the same log always yields the same decisions, which is what makes a
recorded run resumable and replayable against a new workflow version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowtape.common.workflow import EdgeSpec
from flowtape.engine.domain.execution import SETTLED, Items, NodeRun
from flowtape.engine.domain.graph import DONE_PORT, LOOP_PORT, WorkflowGraph


@dataclass(frozen=True)
class Decision:
    #: nodes whose inputs all settled without delivering a single item
    skip: list[str] = field(default_factory=list)
    #: nodes whose inputs all settled, with the items they receive
    ready: list[tuple[str, Items]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.skip and not self.ready


def _from_loop_body_port(graph: WorkflowGraph, edge: EdgeSpec) -> bool:
    return edge.port == LOOP_PORT and graph.is_loop(edge.from_)


def delivered(graph: WorkflowGraph, nodes: Mapping[str, NodeRun], edge: EdgeSpec) -> bool:
    """Whether ``edge`` has delivered what it will: its source settled, or it is a loop's ``loop`` port and the
    loop has sent out a batch (the loop itself settles only once every batch is through)."""
    source = nodes[edge.from_]
    if source.status == "running" and _from_loop_body_port(graph, edge):
        return True
    return source.status in SETTLED


def _items_on(graph: WorkflowGraph, nodes: Mapping[str, NodeRun], edge: EdgeSpec) -> Items:
    source = nodes[edge.from_]
    if source.status == "succeeded" or (source.status == "running" and _from_loop_body_port(graph, edge)):
        return source.ports.get(edge.port, [])
    return []


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
        items.extend(_items_on(graph, nodes, edge))
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
        # a plain loop, not all()/any() over generators: this runs for every pending node after every step
        waiting = failed = False
        for edge in graph.incoming[node_id]:
            if not delivered(graph, nodes, edge):
                waiting = True
                break
            if nodes[edge.from_].status == "failed":
                failed = True
        if waiting or failed:
            continue
        items = node_input(graph, nodes, node_id, trigger, overrides)
        if graph.incoming[node_id] and not items:
            skip.append(node_id)
        else:
            ready.append((node_id, items))
    return Decision(skip=skip, ready=ready)


def all_settled(nodes: Mapping[str, NodeRun]) -> bool:
    return all(run.status in SETTLED for run in nodes.values())


def body_settled(graph: WorkflowGraph, nodes: Mapping[str, NodeRun], loop: str) -> bool:
    """Every node of the loop's body has settled for the current batch."""
    return all(nodes[node_id].status in SETTLED for node_id in graph.bodies[loop])


def final_output(graph: WorkflowGraph, nodes: Mapping[str, NodeRun], finish_order: list[str]) -> Items:
    """The items of the last node(s) that ran: succeeded nodes none of whose successors succeeded.

    A loop body's nodes ran per batch, so they are never the last; a loop node's successors are those after
    its ``done`` port."""
    output: Items = []
    for node_id in finish_order:
        run = nodes[node_id]
        if run.status != "succeeded" or node_id in graph.enclosing:
            continue
        successors = (
            {edge.to for edge in graph.outgoing[node_id] if edge.port == DONE_PORT}
            if graph.is_loop(node_id)
            else graph.successors(node_id)
        )
        if any(nodes[s].status == "succeeded" for s in successors):
            continue
        output.extend(run.output)
    return output
