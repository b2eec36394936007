"""Debug runs: where a run started in debug mode stops, and what an operator may do while it is stopped.

A debug run names nodes to stop before (``breakpoints``) and conditions per node (``conditions``: an
expression evaluated for each input item, as the node's own parameters would be); stepping stops before every
next node. Stopping is an event (``BreakpointReached``), so a paused run survives restarts like any wait; the
decider asks :func:`stop_before` for every node that becomes ready, and applies the operator's
:class:`DebugInputEdited` and :class:`DebugReleased` through :func:`edit_input` and :func:`release`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowtape.common.errors import Conflict, InvalidInput, NodeError
from flowtape.common.expressions import check_syntax, render
from flowtape.common.nodes.sdk import NodeContext, expression_scope
from flowtape.engine.domain.execution import Execution, Items


@dataclass(frozen=True)
class DebugInputEdited:
    """The operator replaced the input of the node a debug run is paused before."""

    input: Items


@dataclass(frozen=True)
class DebugReleased:
    """The operator let the paused node run: ``step`` stops again before the next node, else run on."""

    step: bool


def checked_debug(debug: Mapping[str, Any], node_ids: set[str]) -> dict[str, Any]:
    """The debug options as the run records them (a condition without ``{{ }}`` is one expression); refuses
    breakpoints or conditions on nodes the workflow version lacks, and conditions that do not compile."""
    conditions = {
        node: condition if "{{" in condition else f"{{{{ {condition} }}}}"
        for node, condition in debug.get("conditions", {}).items()
    }
    debug = {"breakpoints": list(debug.get("breakpoints", [])), "conditions": conditions}
    unknown = sorted(
        {*debug.get("breakpoints", []), *debug.get("conditions", {})} - node_ids,
    )
    if unknown:
        raise InvalidInput(
            f"debug names node(s) the workflow does not have: {', '.join(unknown)}",
            [{"field": "debug", "node": node} for node in unknown],
        )
    for node_id, condition in debug.get("conditions", {}).items():
        try:
            check_syntax(condition)
        except NodeError as exc:
            raise InvalidInput(
                f"debug condition of node {node_id} is not a valid expression: {exc.message}",
                [{"field": "debug.conditions", "node": node_id}],
            ) from None
    return debug


def stop_before(execution: Execution, node_id: str, items: Items, ctx: NodeContext) -> str | None:
    """Why the debug run stops before ``node_id`` about to get ``items``, or None when it does not."""
    debug = execution.debug
    if debug is None:
        return None
    run = execution.nodes[node_id].runs
    if execution.released.get(node_id) == run:
        return None
    if execution.stepping:
        return "step"
    if node_id in debug.get("breakpoints", []):
        return "breakpoint"
    condition = debug.get("conditions", {}).get(node_id)
    if condition is None:
        return None
    for index, item in enumerate(items):
        try:
            held = render(condition, expression_scope(ctx, items, item))
        except NodeError as exc:
            return f"condition {condition} could not be evaluated on item {index}: {exc.message}"
        if held:
            return f"condition {condition} held for item {index}"
    return None


def paused_at(execution: Execution) -> dict[str, Any]:
    """The breakpoint the run is paused at; Conflict (the operator's command cannot apply) when it is not."""
    if execution.breakpoint is None or execution.finished:
        raise Conflict(
            f"execution {execution.id} is not paused at a breakpoint (it is {execution.status})",
            {"execution_id": str(execution.id), "status": execution.status},
        )
    return execution.breakpoint


def edit_input(execution: Execution, edited: DebugInputEdited) -> None:
    paused = paused_at(execution)
    execution.edit_input(paused["node"], list(edited.input))


def release(execution: Execution, released: DebugReleased) -> None:
    paused = paused_at(execution)
    execution.release_breakpoint(paused["node"], int(paused["run"]), released.step)
