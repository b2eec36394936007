"""The structural diff of two runs: JSON pointers, types that differ, and where the paths parted."""

from __future__ import annotations

from typing import Any

from flowtape.common.run_diff import MAX_CHANGES, diff_executions, json_diff


def _run(nodes: dict[str, dict[str, Any]], status: str = "succeeded") -> dict[str, Any]:
    return {"id": status, "workflow_id": "w", "workflow_version": 1, "status": status, "nodes": nodes, "output": []}


def _node(at: str, output: Any = None, port: str | None = "main", status: str = "succeeded") -> dict[str, Any]:
    return {"status": status, "started_at": at, "input": [], "output": output, "port": port}


def test_json_diff_names_each_change_by_pointer() -> None:
    a = {"n": 1, "flag": True, "list": [1, 2], "a/b": {"x": 1}, "gone": 0}
    b = {"n": 1.5, "flag": 1, "list": [1], "a/b": {"x": 2}, "new": None}
    assert json_diff(a, b) == [
        {"path": "/a~1b/x", "op": "changed", "a": 1, "b": 2},
        {"path": "/flag", "op": "changed", "a": True, "b": 1},
        {"path": "/gone", "op": "removed", "a": 0, "b": None},
        {"path": "/list/1", "op": "removed", "a": 2, "b": None},
        {"path": "/n", "op": "changed", "a": 1, "b": 1.5},
        {"path": "/new", "op": "added", "a": None, "b": None},
    ]
    assert json_diff({"same": [1, {"x": "y"}]}, {"same": [1, {"x": "y"}]}) == []


def test_paths_diverge_where_a_node_took_another_port_or_another_node_ran() -> None:
    a = _run({"t": _node("1"), "if": _node("2", port="true"), "yes": _node("3"), "no": _node("", status="skipped")})
    b = _run({"t": _node("1"), "if": _node("2", port="false"), "no": _node("3"), "yes": _node("", status="skipped")})
    paths = diff_executions(a, b)["paths"]
    assert paths["common"] == ["t", "if"] and paths["diverged_at"] == "if"
    assert paths["only_in_a"] == ["yes"] and paths["only_in_b"] == ["no"]
    longer = _run({**a["nodes"], "after": _node("4")})
    assert diff_executions(a, longer)["paths"]["diverged_at"] == "after"


def test_a_node_in_one_run_only_and_long_diffs_are_truncated() -> None:
    a = _run({"t": _node("1", output=list(range(MAX_CHANGES + 5)))})
    b = _run({"t": _node("1", output=[-1] * (MAX_CHANGES + 5)), "extra": _node("2")}, status="failed")
    result = diff_executions(a, b)
    assert result["status"] == {"a": "succeeded", "b": "failed"} and not result["same"]
    assert result["nodes"]["extra"]["in"] == "b" and not result["nodes"]["extra"]["same"]
    output = result["nodes"]["t"]["output"]
    assert output["truncated"] and len(output["changes"]) == MAX_CHANGES
