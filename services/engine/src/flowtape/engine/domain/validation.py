"""Checks a workflow definition against the node catalog before it is saved.

Every problem found is reported at once, each naming its node or edge, so a client can fix a definition in
one round: unknown node types, parameters that break the type's JSON Schema, dangling edges, unknown ports,
cycles, and a missing, doubled or disconnected trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from flowtape.common.errors import InvalidWorkflow
from flowtape.engine.domain.graph import WorkflowGraph

Catalog = Mapping[str, Mapping[str, Any]]


def _has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False


def _param_problems(schema: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """Schema errors, except those on values that are expressions (their type is known only at run time)."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(params):
        if _has_expression(error.instance) and error.validator not in ("required", "additionalProperties"):
            continue
        where = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


def validate_definition(graph: WorkflowGraph, catalog: Catalog) -> None:
    """Raise :class:`InvalidWorkflow` listing every problem; return quietly when the definition is sound."""
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for node in graph.definition.nodes:
        if node.id in seen:
            problems.append({"node": node.id, "message": f"node id {node.id!r} is used twice"})
        seen.add(node.id)
        entry = catalog.get(node.type)
        if entry is None:
            known = ", ".join(sorted(catalog))
            problems.append({"node": node.id, "message": f"unknown node type {node.type!r} (known types: {known})"})
            continue
        for problem in _param_problems(entry["params_schema"], node.params):
            problems.append({"node": node.id, "message": f"invalid params for {node.type}: {problem}"})
    for index, edge in enumerate(graph.definition.edges):
        label = f"{edge.from_} -> {edge.to}"
        for end in (edge.from_, edge.to):
            if end not in graph.nodes:
                problems.append({"edge": index, "message": f"edge {label} names unknown node {end!r}"})
        source = graph.nodes.get(edge.from_)
        entry = catalog.get(source.type) if source else None
        if entry is not None and "*" not in entry["ports"] and edge.port not in entry["ports"]:
            ports = ", ".join(entry["ports"])
            problems.append(
                {
                    "edge": index,
                    "message": f"edge {label}: {source.type if source else ''} node has no port "
                    f"{edge.port!r} (ports: {ports})",
                }
            )
    triggers = [n.id for n in graph.definition.nodes if catalog.get(n.type, {}).get("trigger")]
    if not triggers:
        problems.append({"message": "the workflow has no trigger node (add a manual_trigger, webhook or schedule)"})
    elif len(triggers) > 1:
        problems.append({"node": triggers[1], "message": f"only one trigger node is allowed, found {triggers}"})
    for trigger in triggers:
        if graph.incoming.get(trigger):
            problems.append({"node": trigger, "message": "a trigger node cannot have incoming edges"})
    cycle = graph.cycle_nodes()
    if cycle:
        problems.append({"node": cycle[0], "message": f"the workflow has a cycle through {', '.join(cycle)}"})
    elif len(triggers) == 1:
        reachable = graph.reachable_from(triggers[0])
        for node_id in graph.nodes:
            if node_id not in reachable:
                problems.append({"node": node_id, "message": f"node {node_id!r} is not connected to the trigger"})
    if problems:
        first = problems[0]
        where = f"node {first['node']!r}: " if "node" in first else ""
        raise InvalidWorkflow(f"invalid workflow: {where}{first['message']}", details=problems)
