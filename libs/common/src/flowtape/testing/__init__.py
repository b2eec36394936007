"""Testing node types without a platform: ``await run_node(MyNode(), params={...}, items=[...])``.

The node runs through the same :func:`~flowtape.common.nodes.sdk.execute_node` the engine and the connectors
use (expressions rendered, parameters validated, per-item errors naming the item), so a plugin's tests see
what a workflow would. Credentials a node asks for come from ``credentials``, a mapping of name to the
credential's fields (a ``generic`` credential unless ``{"type": ..., "data": {...}}`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowtape.common.credentials import parse_credential
from flowtape.common.errors import NodeError
from flowtape.common.limits import Limits
from flowtape.common.nodes.sdk import Credential, Item, NodeContext, NodeType, execute_node

__all__ = ["NodeError", "run_node", "test_context"]


def test_context(
    node_id: str = "node",
    *,
    credentials: Mapping[str, Mapping[str, Any]] | None = None,
    trigger: list[Item] | None = None,
    node_outputs: Mapping[str, list[Item]] | None = None,
    limits: Limits | None = None,
) -> NodeContext:
    """A NodeContext as a run would give it, with credentials held in memory."""

    async def resolve(ref: str) -> Credential:
        known = dict(credentials or {})
        if ref not in known:
            raise NodeError(f"there is no credential {ref!r} (known here: {', '.join(sorted(known)) or 'none'})")
        spec = dict(known[ref])
        if "type" in spec and "data" in spec:
            data = parse_credential(str(spec["type"]), spec["data"])
        else:
            data = parse_credential("generic", spec)
        return Credential(id=f"test-{ref}", name=ref, data=data)

    return NodeContext(
        execution_id="test-execution",
        workflow_id="test-workflow",
        workflow_version=1,
        node_id=node_id,
        trigger=list(trigger or []),
        node_outputs=dict(node_outputs or {}),
        credentials=resolve if credentials is not None else None,
        limits=limits or Limits(),
    )


test_context.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name


async def run_node(
    node: NodeType[Any],
    *,
    params: Mapping[str, Any] | None = None,
    items: list[Item] | None = None,
    credentials: Mapping[str, Mapping[str, Any]] | None = None,
    context: NodeContext | None = None,
) -> dict[str, list[Item]]:
    """Run ``node`` once on ``items`` and return what it emitted, by port; a NodeError when it fails."""
    ctx = context or test_context(credentials=credentials)
    result = await execute_node(node, dict(params or {}), ctx, list(items if items is not None else [{}]))
    return {port: list(port_items) for port, port_items in result.ports.items()}
