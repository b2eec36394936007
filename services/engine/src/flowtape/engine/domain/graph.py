"""A workflow version as a directed graph: who feeds whom, on which port.

A ``loop`` node is the one place a cycle may pass through: the nodes its ``loop`` port leads to are its *body*,
run once per batch, and an edge from the body back into the loop node is a *loop-back* edge. Loop-back edges are
kept apart (:attr:`WorkflowGraph.loop_backs`), so ``incoming``, ``outgoing`` and ``order`` describe a graph
without cycles, and everything that schedules a graph without loops schedules one with loops too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flowtape.common.workflow import EdgeSpec, NodeSpec, WorkflowDefinition

LOOP = "loop"
#: the port of a loop node that feeds its body, one batch at a time
LOOP_PORT = "loop"
#: the port of a loop node that emits everything collected once all batches are through
DONE_PORT = "done"


@dataclass(frozen=True)
class WorkflowGraph:
    definition: WorkflowDefinition
    nodes: Mapping[str, NodeSpec]
    #: the edges feeding each node, loop-back edges left out
    incoming: Mapping[str, tuple[EdgeSpec, ...]]
    #: the edges leaving each node, loop-back edges left out
    outgoing: Mapping[str, tuple[EdgeSpec, ...]]
    #: every node id in an order where each node comes after all nodes feeding it
    order: tuple[str, ...] = field(default=())
    #: each loop node's body: the nodes its ``loop`` port leads to, in ``order``
    bodies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: each loop node's loop-back edges (from its body into it)
    loop_backs: Mapping[str, tuple[EdgeSpec, ...]] = field(default_factory=dict)
    #: the innermost loop each node of a loop body belongs to
    enclosing: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, definition: WorkflowDefinition) -> WorkflowGraph:
        nodes = {node.id: node for node in definition.nodes}
        edges = [edge for edge in definition.edges if edge.from_ in nodes and edge.to in nodes]
        # a dangling edge joins nothing: validation reports it from ``definition.edges``
        loops = [node_id for node_id, node in nodes.items() if node.type == LOOP]
        bodies = {loop: _body(loop, edges) for loop in loops}
        backs = {
            loop: tuple(edge for edge in edges if edge.to == loop and edge.from_ in bodies[loop]) for loop in loops
        }
        back_edges = {id(edge) for loop_edges in backs.values() for edge in loop_edges}
        incoming: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in nodes}
        outgoing: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in nodes}
        for edge in edges:
            if id(edge) not in back_edges:
                incoming[edge.to].append(edge)
                outgoing[edge.from_].append(edge)
        enclosing: dict[str, str] = {}
        for loop in sorted(loops, key=lambda loop: -len(bodies[loop])):  # inner loops (smaller bodies) win
            for node_id in bodies[loop]:
                enclosing[node_id] = loop
        graph = cls(
            definition=definition,
            nodes=nodes,
            incoming={k: tuple(v) for k, v in incoming.items()},
            outgoing={k: tuple(v) for k, v in outgoing.items()},
            loop_backs=backs,
            enclosing=enclosing,
        )
        order = tuple(graph.topological_order() or ())
        object.__setattr__(graph, "order", order)
        rank = {node_id: index for index, node_id in enumerate(order or nodes)}
        ordered = {loop: tuple(sorted(body, key=lambda n: rank.get(n, 0))) for loop, body in bodies.items()}
        object.__setattr__(graph, "bodies", ordered)
        return graph

    @classmethod
    def from_dict(cls, definition: Mapping[str, Any]) -> WorkflowGraph:
        return cls.build(WorkflowDefinition.model_validate(definition))

    @cached_property
    def resumable_waits(self) -> tuple[str, ...]:
        """The ``wait`` nodes a call resumes (``resume: webhook``): each node's context names their URLs."""
        return tuple(
            node_id
            for node_id, spec in self.nodes.items()
            if spec.type == "wait" and spec.params.get("resume") == "webhook"
        )

    @cached_property
    def params_text(self) -> str:
        """Every node's parameters as one JSON text, made once per graph (a graph is immutable): for questions
        asked on every start, such as whether any parameter mentions ``vars``."""
        return json.dumps([node.params for node in self.nodes.values()])

    def is_loop(self, node_id: str) -> bool:
        return node_id in self.bodies

    def loops_around(self, node_id: str) -> list[str]:
        """The loops whose body holds ``node_id``, innermost first."""
        around = []
        loop = self.enclosing.get(node_id)
        while loop is not None:
            around.append(loop)
            loop = self.enclosing.get(loop)
        return around

    def roots(self) -> list[str]:
        return [node_id for node_id, edges in self.incoming.items() if not edges]

    def predecessors(self, node_id: str) -> set[str]:
        return {edge.from_ for edge in self.incoming[node_id]}

    def successors(self, node_id: str) -> set[str]:
        return {edge.to for edge in self.outgoing[node_id]}

    def topological_order(self) -> list[str] | None:
        """Kahn's algorithm; None when the graph has a cycle (one that does not pass back into a loop node)."""
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

    def rerun_from(self, node_id: str) -> set[str]:
        """What a fork from ``node_id`` runs again: everything downstream of it, and when it lies inside a loop
        body, the outermost such loop with all that follows it (a loop's batches run again from the first)."""
        around = self.loops_around(node_id)
        return self.reachable_from(around[-1] if around else node_id)


def _body(loop: str, edges: list[EdgeSpec]) -> set[str]:
    """The nodes reached from ``loop``'s ``loop`` port without passing through ``loop`` itself."""
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(edge.from_, []).append(edge.to)
    stack = [edge.to for edge in edges if edge.from_ == loop and edge.port == LOOP_PORT and edge.to != loop]
    body: set[str] = set()
    while stack:
        node_id = stack.pop()
        if node_id in body or node_id == loop:
            continue
        body.add(node_id)
        stack.extend(successors.get(node_id, []))
    return body
