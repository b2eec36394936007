"""Saving a workflow: every problem is refused before it can fail a run, and the error names where it is.

Validation runs against the catalog the connectors really publish (``NodeRegistry.default()``), so a test
here breaks when a node type's parameter schema changes in a way that turns away definitions users have.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.errors import InvalidWorkflow
from flowtape.connectors.registry import NodeRegistry
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.validation import Catalog, validate_definition

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
TRIGGER = {"id": "start", "type": "manual_trigger"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return {entry["type"]: entry for entry in NodeRegistry.default().catalog()}


def definition(*nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A workflow of ``start`` (manual trigger) then ``nodes``; by default a chain in the order given."""
    all_nodes = [TRIGGER, *nodes]
    if edges is None:
        edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(all_nodes)]
    return {"name": "test", "nodes": all_nodes, "edges": edges}


def validate(raw: dict[str, Any], catalog: Catalog) -> None:
    validate_definition(WorkflowGraph.from_dict(raw), catalog)


def rejected(raw: dict[str, Any], catalog: Catalog) -> InvalidWorkflow:
    with pytest.raises(InvalidWorkflow) as caught:
        validate(raw, catalog)
    assert caught.value.code == "invalid_workflow"
    assert caught.value.details, "details must list every problem"
    return caught.value


def test_the_api_example_is_valid(catalog: Catalog) -> None:
    validate(json.loads((EXAMPLES / "branching.json").read_text()), catalog)


def test_a_sound_workflow_using_every_kind_of_edge_is_valid(catalog: Catalog) -> None:
    validate(
        definition(
            {"id": "check", "type": "if", "params": {"condition": True}},
            {"id": "yes", "type": "set", "params": {"fields": {"a": 1}}},
            {"id": "no", "type": "noop"},
            {"id": "route", "type": "switch", "params": {"rules": [{"port": "x", "condition": True}]}},
            {"id": "joined", "type": "merge"},
            edges=[
                {"from": "start", "to": "check"},
                {"from": "check", "port": "true", "to": "yes"},
                {"from": "check", "port": "false", "to": "no"},
                {"from": "no", "to": "route"},
                {"from": "route", "port": "x", "to": "joined"},
                {"from": "yes", "to": "joined"},
            ],
        ),
        catalog,
    )


def test_unknown_node_type_names_the_node_and_type(catalog: Catalog) -> None:
    error = rejected(definition({"id": "fetch", "type": "htttp_request"}), catalog)

    assert "'fetch'" in error.message
    assert "htttp_request" in error.message
    assert "http_request" in error.message, "the message lists the known types"
    assert error.details[0]["node"] == "fetch"


@pytest.mark.parametrize(
    ("node", "words"),
    [
        ({"id": "label", "type": "set", "params": {"feilds": {"a": 1}}}, ["feilds"]),
        ({"id": "label", "type": "set", "params": {"fields": ["a"]}}, ["fields"]),
        ({"id": "label", "type": "if", "params": {}}, ["condition", "required"]),
        ({"id": "label", "type": "if", "params": {"condition": "item.n > 10"}}, ["condition"]),
        ({"id": "label", "type": "wait", "params": {"seconds": -1}}, ["seconds"]),
        ({"id": "label", "type": "http_request", "params": {"url": "http://x", "method": "FETCH"}}, ["method"]),
        ({"id": "label", "type": "code", "params": {}}, ["code", "required"]),
    ],
    ids=["typo", "wrong-type", "missing", "condition-without-braces", "negative", "bad-enum", "no-code"],
)
def test_invalid_params_name_the_node_and_the_parameter(
    catalog: Catalog, node: dict[str, Any], words: list[str]
) -> None:
    error = rejected(definition(node), catalog)

    assert error.message.startswith("invalid workflow: node 'label': invalid params for ")
    assert error.details[0]["node"] == "label"
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    "node",
    [
        {"type": "if", "params": {"condition": "{{ item.n > 10 }}"}},
        {"type": "wait", "params": {"seconds": "{{ item.delay }}"}},
        {"type": "set", "params": {"fields": {"a": 1}, "keep_only_set": "{{ item.strict }}"}},
        {"type": "http_request", "params": {"url": "{{ item.url }}", "timeout": "{{ item.timeout }}"}},
        {"type": "code", "params": {"code": "def run(items):\n    return items", "timeout_seconds": "{{ 5 }}"}},
    ],
    ids=["bool", "number", "set-bool", "http-number", "code-number"],
)
def test_expressions_are_accepted_where_the_schema_wants_another_type(catalog: Catalog, node: dict[str, Any]) -> None:
    validate(definition({"id": "node", **node}), catalog)


def test_an_expression_does_not_excuse_an_unknown_parameter(catalog: Catalog) -> None:
    error = rejected(definition({"id": "label", "type": "set", "params": {"feilds": "{{ item }}"}}), catalog)

    assert "feilds" in error.message


@pytest.mark.parametrize(
    "edge", [{"from": "start", "to": "ghost"}, {"from": "ghost", "to": "label"}], ids=["to", "from"]
)
def test_dangling_edge_names_the_edge_and_the_missing_node(catalog: Catalog, edge: dict[str, str]) -> None:
    raw = definition({"id": "label", "type": "set"})
    raw["edges"].append(edge)

    error = rejected(raw, catalog)

    assert f"edge {edge['from']} -> {edge['to']}" in error.message
    assert "'ghost'" in error.message
    assert error.details == [{"edge": 1, "message": error.message.removeprefix("invalid workflow: ")}], (
        "a dangling edge is one problem, not also a cycle or a disconnected node"
    )


def test_unknown_port_on_an_if_node_names_the_edge_and_the_ports(catalog: Catalog) -> None:
    raw = definition(
        {"id": "check", "type": "if", "params": {"condition": "{{ item.ok }}"}},
        {"id": "yes", "type": "set"},
        edges=[{"from": "start", "to": "check"}, {"from": "check", "port": "maybe", "to": "yes"}],
    )

    error = rejected(raw, catalog)

    assert error.details[0]["edge"] == 1
    assert "check -> yes" in error.message
    assert "'maybe'" in error.message
    assert "true" in error.message and "false" in error.message


def test_an_edge_without_a_port_from_an_if_node_is_refused(catalog: Catalog) -> None:
    raw = definition({"id": "check", "type": "if", "params": {"condition": True}}, {"id": "after", "type": "set"})

    error = rejected(raw, catalog)

    assert "check -> after" in error.message
    assert "'main'" in error.message


def test_cycle_names_the_nodes_on_it(catalog: Catalog) -> None:
    raw = definition(
        {"id": "a", "type": "set"},
        {"id": "b", "type": "set"},
        edges=[{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
    )

    error = rejected(raw, catalog)

    assert "cycle" in error.message
    assert "a, b" in error.message
    assert error.details[0]["node"] in ("a", "b")


def test_missing_trigger_is_refused(catalog: Catalog) -> None:
    raw = {"name": "test", "nodes": [{"id": "a", "type": "set"}, {"id": "b", "type": "set"}], "edges": []}

    error = rejected(raw, catalog)

    assert "no trigger" in error.message


def test_two_triggers_name_the_second(catalog: Catalog) -> None:
    raw = definition(
        {"id": "hook", "type": "webhook", "params": {"path": "orders"}},
        {"id": "a", "type": "set"},
        edges=[{"from": "start", "to": "a"}, {"from": "hook", "to": "a"}],
    )

    error = rejected(raw, catalog)

    assert "only one trigger" in error.message
    assert error.details[0]["node"] == "hook"
    assert "'start'" in error.message and "'hook'" in error.message


def test_a_trigger_with_incoming_edges_is_refused(catalog: Catalog) -> None:
    raw = definition({"id": "a", "type": "set"})
    raw["edges"].append({"from": "a", "to": "start"})

    error = rejected(raw, catalog)

    assert any(problem.get("node") == "start" for problem in error.details)


def test_a_node_not_connected_to_the_trigger_is_named(catalog: Catalog) -> None:
    raw = definition(
        {"id": "a", "type": "set"},
        {"id": "island", "type": "set"},
        {"id": "island_tail", "type": "noop"},
        edges=[{"from": "start", "to": "a"}, {"from": "island", "to": "island_tail"}],
    )

    error = rejected(raw, catalog)

    assert "'island'" in error.message
    assert "not connected to the trigger" in error.message
    assert [problem["node"] for problem in error.details] == ["island", "island_tail"]


def test_duplicate_node_ids_are_refused(catalog: Catalog) -> None:
    raw = definition({"id": "a", "type": "set"}, {"id": "a", "type": "noop"})

    error = rejected(raw, catalog)

    assert "'a'" in error.message and "twice" in error.message


def test_every_problem_is_reported_at_once(catalog: Catalog) -> None:
    raw = definition(
        {"id": "bad_type", "type": "nope"},
        {"id": "bad_params", "type": "wait", "params": {"seconds": "soon"}},
        edges=[{"from": "start", "to": "bad_type"}, {"from": "start", "to": "bad_params"}],
    )
    raw["edges"].append({"from": "start", "to": "ghost"})

    error = rejected(raw, catalog)

    where = [problem.get("node", problem.get("edge")) for problem in error.details]
    assert where == ["bad_type", "bad_params", 2]


@pytest.mark.parametrize("value", ["yes", 1, None, {"on": True}])
def test_code_network_must_be_a_boolean(value: Any) -> None:
    with pytest.raises(ValueError, match=r"settings\.code_network must be true or false"):
        WorkflowGraph.from_dict({**definition(), "settings": {"code_network": value}})


LOOP = {"id": "each", "type": "loop", "params": {"batch_size": 10}}


def test_a_cycle_back_into_a_loop_node_is_valid(catalog: Catalog) -> None:
    validate(
        definition(
            LOOP,
            {"id": "batch", "type": "aggregate"},
            {"id": "post", "type": "http_request", "params": {"url": "http://api.test/batches"}},
            {"id": "after", "type": "noop"},
            edges=[
                {"from": "start", "to": "each"},
                {"from": "each", "port": "loop", "to": "batch"},
                {"from": "batch", "to": "post"},
                {"from": "post", "to": "each"},
                {"from": "each", "port": "done", "to": "after"},
            ],
        ),
        catalog,
    )


def test_a_cycle_that_does_not_go_back_into_the_loop_node_is_refused(catalog: Catalog) -> None:
    raw = definition(
        LOOP,
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "noop"},
        edges=[
            {"from": "start", "to": "each"},
            {"from": "each", "port": "loop", "to": "a"},
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
        ],
    )
    error = rejected(raw, catalog)
    assert "cycle through a, b that does not pass through a loop node" in error.message


def test_a_loop_body_node_that_also_waits_for_the_loop_to_be_done_is_refused(catalog: Catalog) -> None:
    raw = definition(
        LOOP,
        {"id": "body", "type": "noop"},
        {"id": "joined", "type": "merge"},
        edges=[
            {"from": "start", "to": "each"},
            {"from": "each", "port": "loop", "to": "body"},
            {"from": "body", "to": "joined"},
            {"from": "each", "port": "done", "to": "joined"},
        ],
    )
    error = rejected(raw, catalog)
    assert error.details[0]["node"] == "joined" and "could never finish" in error.message


def test_an_error_port_can_be_wired_only_from_a_node_whose_on_error_is_error_port(catalog: Catalog) -> None:
    call = {"id": "call", "type": "http_request", "params": {"url": "http://api.test/x"}}
    edges = [{"from": "start", "to": "call"}, {"from": "call", "port": "error", "to": "handle"}]
    handler = {"id": "handle", "type": "noop"}
    error = rejected(definition(call, handler, edges=edges), catalog)
    assert "no port 'error'" in error.message and "on_error to error_port" in error.message
    validate(definition({**call, "on_error": "error_port"}, handler, edges=edges), catalog)


def test_a_node_version_that_is_not_registered_is_refused(catalog: Catalog) -> None:
    error = rejected(definition({"id": "label", "type": "set", "version": 7}), catalog)
    assert "node type 'set' has no version 7 (the latest is 1)" in error.message
    validate(definition({"id": "label", "type": "set", "version": 1}), catalog)
