"""Flow control the engine carries out itself: loops, sub-workflows, stopping a run, and workflow static data.

Their parameter models and catalog entries live here like any node type's, so workflows are validated and the
console draws their forms the same way; what they *do* is part of the engine's decisions (see
``flowtape.engine.domain.decider``), recorded in the execution log, so resume, retry, replay and time travel
follow them. Their ``run`` methods say what a node would do on its own (the ``flowtape.testing`` helper runs
nodes without an engine): a loop with no body passes its items to ``done``, the others need the engine.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from flowtape.common.errors import NodeError, WorkflowStopped
from flowtape.common.limits import json_size
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = [
    "CONTROL_NODES",
    "MAX_STATIC_DATA_BYTES",
    "MAX_STATIC_DATA_KEYS",
    "ExecuteWorkflowNode",
    "ExecuteWorkflowParams",
    "LoopNode",
    "LoopParams",
    "StaticDataNode",
    "StaticDataParams",
    "StopAndErrorNode",
    "StopAndErrorParams",
]

#: a workflow's static data is small: this many keys at most, and this much JSON in all
MAX_STATIC_DATA_KEYS = 1_000
MAX_STATIC_DATA_BYTES = 1024 * 1024


class LoopParams(NodeParams):
    """How many items the loop's body gets at a time."""

    batch_size: int = Field(default=1, ge=1, le=100_000, description="Items per batch sent to the 'loop' port.")


class LoopNode(NodeType[LoopParams]):
    """Runs its body (the nodes wired to its ``loop`` port) once per batch of its input items. The body's last
    node is wired back into the loop node; what comes back is collected, and once every batch is through
    everything collected goes out on ``done``. Without a loop-back edge ``done`` gets the batches as sent."""

    type = "loop"
    category = "flow"
    description = (
        "Runs the nodes wired to 'loop' once per batch of items (wire the last one back into the loop), "
        "then emits everything collected on 'done'."
    )
    Params = LoopParams
    ports = ("loop", "done")
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="Batches of two, no body: everything comes out on done",
            params={"batch_size": 2},
            input=[{"n": 1}, {"n": 2}, {"n": 3}],
            output={"done": [{"n": 1}, {"n": 2}, {"n": 3}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: LoopParams, items: list[Item]) -> NodeResult:
        return NodeResult({"loop": [], "done": list(items)})


class StopAndErrorParams(NodeParams):
    """The message the run fails with."""

    message: str = Field(
        min_length=1,
        max_length=2_000,
        description="The run's error, e.g. 'order {{ item.id }} has no customer' (rendered against the first item).",
    )


class StopAndErrorNode(NodeType[StopAndErrorParams]):
    """Fails the run with ``message`` when items reach it (wire it after an ``if`` to stop on a condition)."""

    type = "stop_and_error"
    category = "flow"
    description = "Fails the run with a message of your choosing when items reach it."
    Params = StopAndErrorParams
    ports = ()
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="An order without a customer stops the run",
            params={"message": "order {{ item.id }} has no customer"},
            input=[{"id": 7}],
            output={},
            error="order 7 has no customer",
        ),
    )

    async def run(self, ctx: NodeContext, params: StopAndErrorParams, items: list[Item]) -> NodeResult:
        raise WorkflowStopped(params.message)


class ExecuteWorkflowParams(NodeParams):
    """The workflow to run with this node's items as its input."""

    workflow_id: str = Field(min_length=1, max_length=100, description="The id of the workflow to run.")
    version: int | None = Field(
        default=None, ge=1, description="The version to run; by default its latest version when the node runs."
    )


class ExecuteWorkflowNode(NodeType[ExecuteWorkflowParams]):
    """Starts another workflow (a separate execution, linked to this one both ways) with the node's items as
    its input, waits for it and emits its output. A failed child fails the node, so ``retry`` and
    ``on_error`` apply; calls nest at most ``FLOWTAPE_MAX_CALL_DEPTH`` deep."""

    type = "execute_workflow"
    category = "flow"
    description = "Runs another workflow with the items as its input, waits for it and emits its output."
    Params = ExecuteWorkflowParams
    mode = "batch"
    pure = True
    #: the output is whatever the other workflow makes of the items: a replay takes the recorded one
    deterministic = False
    examples = (
        NodeExample(
            title="Call a workflow that doubles n",
            params={"workflow_id": "example-double"},
            input=[{"n": 21}],
            output={"main": [{"doubled": 42}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: ExecuteWorkflowParams, items: list[Item]) -> NodeResult:
        raise NodeError("execute_workflow runs inside the engine: run the workflow on a platform")


class StaticDataParams(NodeParams):
    """One operation on the workflow's static data, per item."""

    operation: Literal["get", "set", "increment", "delete"] = Field(
        description="get a value, set it, increment a number (a missing key counts as 0), or delete the key."
    )
    key: str = Field(min_length=1, max_length=200, description="The key, e.g. 'last_processed_id'.")
    value: Any = Field(default=None, description="With 'set': the value to store (any JSON).")
    by: float = Field(default=1, allow_inf_nan=False, description="With 'increment': the amount to add.")
    default: Any = Field(default=None, description="With 'get': the value when the key is not set.")
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The item field the value is written to (by default the key). 'delete' writes the value "
        "it removed.",
    )

    @model_validator(mode="after")
    def _value_only_with_set(self) -> Self:
        if self.operation != "set" and "value" in self.model_fields_set:
            raise ValueError("'value' is used only by the 'set' operation")
        return self


class StaticDataNode(NodeType[StaticDataParams]):
    """Reads and writes a small key-value store kept per workflow across its runs (a last processed id, a
    counter). The engine saves the node's changes at once when it finishes, through the store's own log, and
    records the values it saw in the execution log."""

    type = "static_data"
    category = "flow"
    description = "Gets, sets, increments or deletes a value the workflow keeps across its runs."
    Params = StaticDataParams
    pure = True
    #: the output depends on what earlier runs stored: a replay takes the recorded one
    deterministic = False
    examples = (
        NodeExample(
            title="Count this workflow's runs",
            params={"operation": "increment", "key": "runs"},
            input=[{"order": 7}],
            output={"main": [{"order": 7, "runs": 1}]},
        ),
        NodeExample(
            title="Remember the last id processed",
            params={"operation": "set", "key": "last_id", "value": "{{ item.id }}"},
            input=[{"id": 41}],
            output={"main": [{"id": 41, "last_id": 41}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: StaticDataParams, item: Item) -> NodeResult:
        store = ctx.static_data
        if store is None:
            raise NodeError("static_data is kept by the engine: run the workflow on a platform")
        value: Any
        if params.operation == "get":
            value = store.get(params.key)
            if value is None:
                value = params.default
        elif params.operation == "set":
            if json_size(params.value, MAX_STATIC_DATA_BYTES) > MAX_STATIC_DATA_BYTES:
                raise NodeError(f"the value for key {params.key!r} is larger than {MAX_STATIC_DATA_BYTES} bytes")
            store.set(params.key, params.value)
            value = params.value
        elif params.operation == "increment":
            value = store.increment(params.key, params.by)
        else:
            value = store.delete(params.key)
        return NodeResult.on([{**item, params.to or params.key: value}])


CONTROL_NODES: tuple[type[NodeType[Any]], ...] = (LoopNode, StopAndErrorNode, ExecuteWorkflowNode, StaticDataNode)
