"""Two runs compared node by node: status, input and output as a structural JSON diff, and where their paths
parted. Pure: it works on the execution views (API.md's shape) both runs already have, so the gateway, the CLI
and the console see the same answer.

A change is ``{"path", "op", "a", "b"}`` with ``path`` a JSON pointer (``/0/total``) into the compared value and
``op`` one of ``changed``, ``added`` (only in b) and ``removed`` (only in a). A run's *path* is the nodes that
ran (neither skipped nor pending) in the order they started; the runs *diverged* at the first node of their
paths that differs, or that took another output port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: node fields compared as values (input and output are compared structurally)
_SCALARS = ("status", "port", "error", "attempts")
_NOT_RUN = {"skipped", "pending", None}
#: changes listed per node and field at most; ``truncated`` says when there were more
MAX_CHANGES = 200


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def json_diff(a: Any, b: Any, path: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """The changes that turn ``a`` into ``b``: objects key by key, lists index by index, anything else by value."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in b:
                changes.append({"path": _pointer((*path, key)), "op": "removed", "a": a[key], "b": None})
            elif key not in a:
                changes.append({"path": _pointer((*path, key)), "op": "added", "a": None, "b": b[key]})
            else:
                changes.extend(json_diff(a[key], b[key], (*path, key)))
        return changes
    if isinstance(a, list) and isinstance(b, list):
        changes = []
        for index in range(max(len(a), len(b))):
            if index >= len(b):
                changes.append({"path": _pointer((*path, index)), "op": "removed", "a": a[index], "b": None})
            elif index >= len(a):
                changes.append({"path": _pointer((*path, index)), "op": "added", "a": None, "b": b[index]})
            else:
                changes.extend(json_diff(a[index], b[index], (*path, index)))
        return changes
    if a == b and type(a) is type(b):
        return []
    return [{"path": _pointer(path), "op": "changed", "a": a, "b": b}]


def _run_path(execution: Mapping[str, Any]) -> list[str]:
    ran = [
        (node.get("started_at") or node.get("finished_at") or "", node_id)
        for node_id, node in execution.get("nodes", {}).items()
        if node.get("status") not in _NOT_RUN
    ]
    return [node_id for _, node_id in sorted(ran)]


def _summary(execution: Mapping[str, Any]) -> dict[str, Any]:
    return {key: execution.get(key) for key in ("id", "workflow_id", "workflow_version", "status")}


def _limited(changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"changes": changes[:MAX_CHANGES], "truncated": len(changes) > MAX_CHANGES}


def _node_diff(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    left, right = a or {}, b or {}
    diff: dict[str, Any] = {
        "in": "both" if a is not None and b is not None else ("a" if a is not None else "b"),
    }
    for field in _SCALARS:
        if left.get(field) != right.get(field):
            diff[field] = {"a": left.get(field), "b": right.get(field)}
    for field in ("input", "output"):
        changes = json_diff(left.get(field), right.get(field))
        if changes:
            diff[field] = _limited(changes)
    diff["same"] = diff["in"] == "both" and set(diff) == {"in"}
    return diff


def diff_executions(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The difference between two execution views, ``a`` the reference."""
    nodes_a, nodes_b = a.get("nodes", {}), b.get("nodes", {})
    nodes = {node_id: _node_diff(nodes_a.get(node_id), nodes_b.get(node_id)) for node_id in {*nodes_a, *nodes_b}}
    path_a, path_b = _run_path(a), _run_path(b)
    diverged_at: str | None = None
    common = 0
    for node_a, node_b in zip(path_a, path_b, strict=False):
        if node_a != node_b:
            diverged_at = node_a
            break
        if nodes_a[node_a].get("port") != nodes_b[node_b].get("port"):
            diverged_at = node_a
            common += 1
            break
        common += 1
    else:
        if len(path_a) != len(path_b):
            diverged_at = (path_a if len(path_a) > len(path_b) else path_b)[common]
    changed = sorted(node_id for node_id, diff in nodes.items() if not diff["same"])
    return {
        "a": _summary(a),
        "b": _summary(b),
        "same": not changed and a.get("status") == b.get("status") and not json_diff(a.get("output"), b.get("output")),
        "status": None if a.get("status") == b.get("status") else {"a": a.get("status"), "b": b.get("status")},
        "output": _limited(json_diff(a.get("output"), b.get("output"))),
        "changed_nodes": changed,
        "nodes": dict(sorted(nodes.items())),
        "paths": {
            "a": path_a,
            "b": path_b,
            "common": path_a[:common],
            "diverged_at": diverged_at,
            "only_in_a": [node for node in path_a if node not in path_b],
            "only_in_b": [node for node in path_b if node not in path_a],
        },
    }
