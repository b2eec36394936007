"""Checks a workflow definition against the node catalog before it is saved.

Every problem found is reported at once, each naming its node or edge, so a client can fix a definition in
one round: unknown node types or versions, parameters that break the type's JSON Schema, dangling edges,
unknown ports, cycles that do not pass back into a loop node, loop bodies that could never finish, and a
missing, doubled or disconnected trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowtape.common.errors import InvalidWorkflow
from flowtape.common.workflow import ERROR_PORT
from flowtape.engine.domain.graph import DONE_PORT, WorkflowGraph

#: the latest catalog entry of each node type, by type name
Catalog = Mapping[str, Mapping[str, Any]]
#: a node type's entry at one version (None when that version is not registered)
VersionLookup = Callable[[str, int], Mapping[str, Any] | None]


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
    import jsonschema  # loaded with the first workflow validated (~6 MB an idle engine does not hold)

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(params):
        if _has_expression(error.instance) and error.validator not in ("required", "additionalProperties"):
            continue
        where = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


def _entry(
    catalog: Catalog, versions: VersionLookup | None, node_type: str, version: int | None
) -> Mapping[str, Any] | None:
    latest = catalog.get(node_type)
    if latest is None or version is None or latest.get("version", 1) == version:
        return latest
    return versions(node_type, version) if versions is not None else None


def validate_definition(graph: WorkflowGraph, catalog: Catalog, versions: VersionLookup | None = None) -> None:
    """Raise :class:`InvalidWorkflow` listing every problem; return quietly when the definition is sound.

    A node naming a ``version`` is checked against that version's entry (``versions`` finds older ones)."""
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    entries: dict[str, Mapping[str, Any]] = {}
    for node in graph.definition.nodes:
        if node.id in seen:
            problems.append({"node": node.id, "message": f"node id {node.id!r} is used twice"})
        seen.add(node.id)
        if node.type not in catalog:
            known = ", ".join(sorted(catalog))
            problems.append({"node": node.id, "message": f"unknown node type {node.type!r} (known types: {known})"})
            continue
        entry = _entry(catalog, versions, node.type, node.version)
        if entry is None:
            problems.append(
                {
                    "node": node.id,
                    "message": f"node type {node.type!r} has no version {node.version} "
                    f"(the latest is {catalog[node.type].get('version', 1)})",
                }
            )
            continue
        entries[node.id] = entry
        for problem in _param_problems(entry["params_schema"], node.params):
            problems.append({"node": node.id, "message": f"invalid params for {node.type}: {problem}"})
    for index, edge in enumerate(graph.definition.edges):
        label = f"{edge.from_} -> {edge.to}"
        for end in (edge.from_, edge.to):
            if end not in graph.nodes:
                problems.append({"edge": index, "message": f"edge {label} names unknown node {end!r}"})
        source = graph.nodes.get(edge.from_)
        entry = entries.get(edge.from_)
        if source is not None and edge.port == ERROR_PORT and source.error_handling == "error_port":
            continue
        if entry is not None and "*" not in entry["ports"] and edge.port not in entry["ports"]:
            ports = ", ".join(entry["ports"])
            hint = " (set the node's on_error to error_port to wire its error port)" if edge.port == ERROR_PORT else ""
            problems.append(
                {
                    "edge": index,
                    "message": f"edge {label}: {source.type if source else ''} node has no port "
                    f"{edge.port!r} (ports: {ports}){hint}",
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
    problems.extend(_loop_problems(graph))
    cycle = graph.cycle_nodes()
    if cycle:
        problems.append(
            {
                "node": cycle[0],
                "message": f"the workflow has a cycle through {', '.join(cycle)} that does not pass through a "
                "loop node (only a loop's body may wire back into the loop node)",
            }
        )
    elif len(triggers) == 1:
        reachable = graph.reachable_from(triggers[0])
        for node_id in graph.nodes:
            if node_id not in reachable:
                problems.append({"node": node_id, "message": f"node {node_id!r} is not connected to the trigger"})
    if problems:
        first = problems[0]
        where = f"node {first['node']!r}: " if "node" in first else ""
        raise InvalidWorkflow(f"invalid workflow: {where}{first['message']}", details=problems)


def _loop_problems(graph: WorkflowGraph) -> list[dict[str, Any]]:
    """A loop's body must be able to finish each batch: no node in it may wait for the loop's own ``done``."""
    problems: list[dict[str, Any]] = []
    for loop, body in graph.bodies.items():
        after_done: set[str] = set()
        for edge in graph.outgoing[loop]:
            if edge.port == DONE_PORT:
                after_done |= graph.reachable_from(edge.to)
        for node_id in body:
            if node_id in after_done:
                problems.append(
                    {
                        "node": node_id,
                        "message": f"node {node_id!r} is inside the body of loop {loop!r} (reached from its "
                        f"'loop' port) and also after its 'done' port: a batch could never finish",
                    }
                )
            if node_id in graph.bodies and loop in graph.bodies[node_id]:
                problems.append({"node": node_id, "message": f"loops {loop!r} and {node_id!r} are inside each other"})
    return problems
