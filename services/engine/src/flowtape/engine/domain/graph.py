"""A workflow version as a directed graph: who feeds whom, on which port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowtape.common.workflow import EdgeSpec, NodeSpec, WorkflowDefinition


@dataclass(frozen=True)
class WorkflowGraph:
    definition: WorkflowDefinition
    nodes: Mapping[str, NodeSpec]
    incoming: Mapping[str, tuple[EdgeSpec, ...]]
    outgoing: Mapping[str, tuple[EdgeSpec, ...]]
    #: every node id in an order where each node comes after all nodes feeding it
    order: tuple[str, ...] = field(default=())

    @classmethod
    def build(cls, definition: WorkflowDefinition) -> WorkflowGraph:
        nodes = {node.id: node for node in definition.nodes}
        incoming: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in nodes}
        outgoing: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in nodes}
        for edge in definition.edges:
            # a dangling edge joins nothing: validation reports it from ``definition.edges``
            if edge.from_ in nodes and edge.to in nodes:
                incoming[edge.to].append(edge)
                outgoing[edge.from_].append(edge)
        graph = cls(
            definition=definition,
            nodes=nodes,
            incoming={k: tuple(v) for k, v in incoming.items()},
            outgoing={k: tuple(v) for k, v in outgoing.items()},
        )
        object.__setattr__(graph, "order", tuple(graph.topological_order() or ()))
        return graph

    @classmethod
    def from_dict(cls, definition: Mapping[str, Any]) -> WorkflowGraph:
        return cls.build(WorkflowDefinition.model_validate(definition))

    def roots(self) -> list[str]:
        return [node_id for node_id, edges in self.incoming.items() if not edges]

    def predecessors(self, node_id: str) -> set[str]:
        return {edge.from_ for edge in self.incoming[node_id]}

    def successors(self, node_id: str) -> set[str]:
        return {edge.to for edge in self.outgoing[node_id]}

    def topological_order(self) -> list[str] | None:
        """Kahn's algorithm; None when the graph has a cycle."""
        remaining = {node_id: len(self.predecessors(node_id)) for node_id in self.nodes}
        ready = [node_id for node_id in self.nodes if remaining[node_id] == 0]
        order: list[str] = []
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for successor in sorted(self.successors(node_id), key=list(self.nodes).index):
                remaining[successor] -= 1
                if remaining[successor] == 0:
                    ready.append(successor)
        return order if len(order) == len(self.nodes) else None

    def cycle_nodes(self) -> list[str]:
        """Nodes left over by a topological sort: those on or behind a cycle."""
        order = set(self.topological_order() or [])
        if len(order) == len(self.nodes):
            return []
        visited: set[str] = set()
        remaining = {n: len(self.predecessors(n)) for n in self.nodes}
        ready = [n for n in self.nodes if remaining[n] == 0]
        while ready:
            node_id = ready.pop()
            visited.add(node_id)
            for successor in self.successors(node_id):
                remaining[successor] -= 1
                if remaining[successor] == 0:
                    ready.append(successor)
        return [n for n in self.nodes if n not in visited]

    def reachable_from(self, start: str) -> set[str]:
        seen = {start}
        stack = [start]
        while stack:
            for successor in self.successors(stack.pop()):
                if successor not in seen:
                    seen.add(successor)
                    stack.append(successor)
        return seen
