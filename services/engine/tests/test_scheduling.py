"""The pure scheduling core: which nodes run, which are skipped, and what a run's output is.

``drive`` plays the engine's part with no I/O: it applies :func:`ready_nodes` until nothing more can happen,
"running" each ready node with a function of its input items, so each test states a graph, what its nodes
emit, and the statuses and output a user would see.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from flowtape.engine.domain.execution import Items, NodeRun
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.scheduling import all_settled, final_output, ready_nodes

Ports = dict[str, Items]
Behaviour = Callable[[str, Items], Ports]


def graph_of(nodes: dict[str, str], edges: list[tuple[str, str] | tuple[str, str, str]]) -> WorkflowGraph:
    """``nodes`` maps id to type; an edge is ``(from, to)`` or ``(from, port, to)``."""
    return WorkflowGraph.from_dict(
        {
            "name": "test",
            "nodes": [{"id": node_id, "type": node_type} for node_id, node_type in nodes.items()],
            "edges": [
                {"from": edge[0], "to": edge[-1], **({"port": edge[1]} if len(edge) == 3 else {})} for edge in edges
            ],
        }
    )


def pass_through(node_id: str, items: Items) -> Ports:
    return {"main": [{**item, "seen": [*item.get("seen", []), node_id]} for item in items]}


def if_on(key: str) -> Behaviour:
    """Behaviour where ``check`` routes items by ``item[key]`` and every other node passes items on."""

    def behave(node_id: str, items: Items) -> Ports:
        if node_id != "check":
            return pass_through(node_id, items)
        return {
            "true": [item for item in items if item[key]],
            "false": [item for item in items if not item[key]],
        }

    return behave


class Run:
    def __init__(self, graph: WorkflowGraph, trigger: Items) -> None:
        self.graph = graph
        self.trigger = trigger
        self.nodes: dict[str, NodeRun] = {node_id: NodeRun() for node_id in graph.nodes}
        self.finish_order: list[str] = []
        self.inputs: dict[str, Items] = {}

    def succeed(self, node_id: str, ports: Ports) -> None:
        self.nodes[node_id].status = "succeeded"
        self.nodes[node_id].ports = ports
        self.finish_order.append(node_id)

    def fail(self, node_id: str) -> None:
        self.nodes[node_id].status = "failed"
        self.nodes[node_id].error = "boom"
        self.finish_order.append(node_id)

    def drive(self, behave: Behaviour = pass_through, failing: frozenset[str] = frozenset()) -> Run:
        """Apply decisions until none is left, as the engine does between two outside events."""
        while True:
            decision = ready_nodes(self.graph, self.nodes, self.trigger)
            if decision.empty:
                return self
            for node_id in decision.skip:
                self.nodes[node_id].status = "skipped"
            for node_id, items in decision.ready:
                self.inputs[node_id] = items
                if node_id in failing:
                    self.fail(node_id)
                else:
                    self.succeed(node_id, behave(node_id, items))

    def status(self) -> dict[str, str]:
        return {node_id: run.status for node_id, run in self.nodes.items()}

    def output(self) -> Items:
        return final_output(self.graph, self.nodes, self.finish_order)


def branching() -> WorkflowGraph:
    """API.md's example, with a second node under each branch to show skips propagate all the way."""
    return graph_of(
        {
            "hook": "webhook",
            "calc": "set",
            "check": "if",
            "big": "set",
            "big_after": "set",
            "small": "set",
            "small_after": "set",
        },
        [
            ("hook", "calc"),
            ("calc", "check"),
            ("check", "true", "big"),
            ("big", "big_after"),
            ("check", "false", "small"),
            ("small", "small_after"),
        ],
    )


def test_a_root_is_ready_at_once_with_the_trigger_items() -> None:
    graph = graph_of({"t": "manual_trigger", "a": "set"}, [("t", "a")])
    run = Run(graph, [{"n": 1}, {"n": 2}])

    decision = ready_nodes(graph, run.nodes, run.trigger)

    assert decision.ready == [("t", [{"n": 1}, {"n": 2}])]
    assert decision.skip == []


def test_linear_chain_runs_in_order_and_outputs_the_last_node() -> None:
    chain = [f"n{i}" for i in range(5)]
    graph = graph_of({"t": "manual_trigger", **dict.fromkeys(chain, "set")}, list(pairwise(["t", *chain])))

    run = Run(graph, [{"n": 1}]).drive()

    assert run.finish_order == ["t", *chain]
    assert all_settled(run.nodes)
    assert run.output() == [{"n": 1, "seen": ["t", *chain]}]


def test_a_node_waits_until_its_predecessor_settles() -> None:
    graph = graph_of({"t": "manual_trigger", "a": "code", "b": "set"}, [("t", "a"), ("a", "b")])
    run = Run(graph, [{}])
    run.succeed("t", {"main": [{}]})
    run.nodes["a"].status = "running"

    assert ready_nodes(graph, run.nodes, run.trigger).empty
    assert not all_settled(run.nodes)


def test_the_branch_not_taken_is_skipped_all_the_way_down() -> None:
    run = Run(branching(), [{"big": False}]).drive(if_on("big"))

    assert run.status() == {
        "hook": "succeeded",
        "calc": "succeeded",
        "check": "succeeded",
        "big": "skipped",
        "big_after": "skipped",
        "small": "succeeded",
        "small_after": "succeeded",
    }
    assert "big" not in run.inputs and "big_after" not in run.inputs
    assert all_settled(run.nodes)
    assert run.output() == [{"big": False, "seen": ["hook", "calc", "small", "small_after"]}]


def test_items_split_by_an_if_go_down_both_branches() -> None:
    run = Run(branching(), [{"big": True, "k": 1}, {"big": False, "k": 2}]).drive(if_on("big"))

    assert run.status()["big_after"] == "succeeded"
    assert run.status()["small_after"] == "succeeded"
    assert [item["k"] for item in run.inputs["big"]] == [1]
    assert [item["k"] for item in run.inputs["small"]] == [2]
    assert sorted(item["k"] for item in run.output()) == [1, 2]


def parallel_into_merge() -> WorkflowGraph:
    return graph_of(
        {"t": "manual_trigger", "a": "code", "b": "set", "merge": "merge", "out": "set"},
        [("t", "a"), ("t", "b"), ("a", "merge"), ("b", "merge"), ("merge", "out")],
    )


def test_merge_waits_for_every_branch() -> None:
    graph = parallel_into_merge()
    run = Run(graph, [{"n": 1}])
    run.succeed("t", {"main": [{"n": 1}]})

    first = ready_nodes(graph, run.nodes, run.trigger)
    assert [node_id for node_id, _ in first.ready] == ["a", "b"]
    run.nodes["a"].status = "running"
    run.succeed("b", {"main": [{"from": "b"}]})

    assert ready_nodes(graph, run.nodes, run.trigger).empty, "merge ran before branch a finished"

    run.succeed("a", {"main": [{"from": "a"}]})
    assert ready_nodes(graph, run.nodes, run.trigger).ready == [("merge", [{"from": "a"}, {"from": "b"}])]


def test_merge_runs_with_the_other_branch_when_one_is_skipped() -> None:
    graph = graph_of(
        {"t": "manual_trigger", "check": "if", "yes": "set", "no": "set", "merge": "merge"},
        [("t", "check"), ("check", "true", "yes"), ("check", "false", "no"), ("yes", "merge"), ("no", "merge")],
    )

    run = Run(graph, [{"flag": False, "k": 1}]).drive(if_on("flag"))

    assert run.status()["yes"] == "skipped"
    assert run.status()["merge"] == "succeeded"
    assert run.inputs["merge"] == [{"flag": False, "k": 1, "seen": ["t", "no"]}]
    assert run.output() == [{"flag": False, "k": 1, "seen": ["t", "no", "merge"]}]


def test_merge_is_skipped_when_every_branch_is_skipped() -> None:
    graph = graph_of(
        {"t": "manual_trigger", "a": "code", "a2": "set", "b": "code", "b2": "set", "merge": "merge"},
        [("t", "a"), ("t", "b"), ("a", "a2"), ("b", "b2"), ("a2", "merge"), ("b2", "merge")],
    )

    def emits_nothing(node_id: str, items: Items) -> Ports:
        return {"main": []} if node_id in ("a", "b") else pass_through(node_id, items)

    run = Run(graph, [{}]).drive(emits_nothing)

    assert run.status() == {
        "t": "succeeded",
        "a": "succeeded",
        "a2": "skipped",
        "b": "succeeded",
        "b2": "skipped",
        "merge": "skipped",
    }
    assert all_settled(run.nodes)


def test_a_node_whose_input_is_empty_is_skipped() -> None:
    graph = graph_of({"t": "manual_trigger", "filter": "code", "after": "set"}, [("t", "filter"), ("filter", "after")])

    run = Run(graph, [{"n": 1}]).drive(
        lambda node_id, items: {"main": []} if node_id == "filter" else pass_through(node_id, items)
    )

    assert run.status() == {"t": "succeeded", "filter": "succeeded", "after": "skipped"}
    assert "after" not in run.inputs
    # nothing ran after the filter, so its (empty) output is the run's output
    assert run.output() == []


def test_a_trigger_without_items_still_runs() -> None:
    graph = graph_of({"t": "manual_trigger", "a": "set"}, [("t", "a")])

    assert ready_nodes(graph, {n: NodeRun() for n in graph.nodes}, []).ready == [("t", [])]


def test_a_failed_node_blocks_its_successors_but_not_unrelated_branches() -> None:
    graph = graph_of(
        {"t": "manual_trigger", "bad": "code", "after_bad": "set", "good": "set", "merge": "merge"},
        [("t", "bad"), ("bad", "after_bad"), ("t", "good"), ("after_bad", "merge"), ("good", "merge")],
    )

    run = Run(graph, [{}]).drive(failing=frozenset({"bad"}))

    assert run.status() == {
        "t": "succeeded",
        "bad": "failed",
        "after_bad": "pending",
        "good": "succeeded",
        "merge": "pending",
    }
    assert ready_nodes(graph, run.nodes, run.trigger).empty
    assert not all_settled(run.nodes)


def test_a_failed_predecessor_blocks_a_merge_even_when_the_other_branch_succeeded() -> None:
    graph = parallel_into_merge()
    run = Run(graph, [{}])
    run.succeed("t", {"main": [{}]})
    run.fail("a")
    run.succeed("b", {"main": [{"from": "b"}]})

    decision = ready_nodes(graph, run.nodes, run.trigger)

    assert decision.empty
    assert run.nodes["merge"].status == "pending"


def test_final_output_is_every_last_node_that_ran_in_finish_order() -> None:
    graph = graph_of(
        {"t": "manual_trigger", "a": "code", "a2": "set", "b": "set"},
        [("t", "a"), ("a", "a2"), ("t", "b")],
    )
    run = Run(graph, [{}])
    run.succeed("t", {"main": [{}]})
    run.succeed("b", {"main": [{"from": "b"}]})
    run.succeed("a", {"main": [{"from": "a"}]})
    run.succeed("a2", {"main": [{"from": "a2"}]})

    assert run.output() == [{"from": "b"}, {"from": "a2"}]


def test_final_output_of_an_if_whose_only_branch_was_not_taken_is_the_ifs_items() -> None:
    graph = graph_of({"t": "manual_trigger", "check": "if", "yes": "set"}, [("t", "check"), ("check", "true", "yes")])

    run = Run(graph, [{"flag": False}]).drive(if_on("flag"))

    assert run.status()["yes"] == "skipped"
    assert run.output() == [{"flag": False, "seen": ["t"]}]


def test_final_output_ignores_failed_nodes() -> None:
    graph = graph_of({"t": "manual_trigger", "bad": "code", "good": "set"}, [("t", "bad"), ("t", "good")])

    run = Run(graph, [{"n": 1}]).drive(failing=frozenset({"bad"}))

    assert run.output() == [{"n": 1, "seen": ["t", "good"]}]


def test_decisions_are_deterministic() -> None:
    def decisions() -> list[Any]:
        run = Run(parallel_into_merge(), [{"n": 1}])
        seen = []
        while not (decision := ready_nodes(run.graph, run.nodes, run.trigger)).empty:
            seen.append(decision)
            for node_id, items in decision.ready:
                run.succeed(node_id, pass_through(node_id, items))
        return seen

    assert decisions() == decisions()
