"""Bounds on what a caller or a node can make the platform hold: JSON nesting, item data size, workflow size,
and text the stores can keep.

They are checked at the edge (the gateway refuses a request) and again where data is recorded (the engine
fails one node or one run), so that no input of any size or shape can exhaust memory or stall the log writer.
The measures walk the data iteratively: a value nested thousands deep or repeating one large object many
times is measured without recursion and without building its JSON text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator

from flowtape.common.errors import InvalidInput, OutputTooLarge, PayloadTooLarge

#: deepest nesting of objects and lists accepted anywhere (request bodies, items, parameters)
DEFAULT_MAX_JSON_DEPTH = 64
#: largest JSON size of one node's output (all its ports) or one run's trigger items
DEFAULT_MAX_ITEMS_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_WORKFLOW_NODES = 1_000
DEFAULT_MAX_WORKFLOW_EDGES = 5_000


@dataclass(frozen=True)
class Limits:
    """The platform's bounds, from settings (``FLOWTAPE_MAX_*``); the defaults suit most deployments."""

    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_items_bytes: int = DEFAULT_MAX_ITEMS_BYTES
    max_workflow_nodes: int = DEFAULT_MAX_WORKFLOW_NODES
    max_workflow_edges: int = DEFAULT_MAX_WORKFLOW_EDGES


DEFAULT_LIMITS = Limits()


def json_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests objects and lists, counting at most to ``limit + 1`` (enough to refuse it)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, Mapping):
            children: Any = current.values()
        elif isinstance(current, list | tuple):
            children = current
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_size(value: Any, limit: int) -> int:
    """The approximate size of ``value`` as JSON text, in bytes; counting stops once it passes ``limit``.

    Shared references count every time they appear, as they would when serialized.
    """
    size = 0
    stack: list[Any] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            size += len(current) + 3  # quotes and a separator; non-ASCII may take more, escapes too
        elif isinstance(current, Mapping):
            size += 2 + len(current)
            for key, child in current.items():
                size += len(str(key)) + 3
                stack.append(child)
        elif isinstance(current, list | tuple):
            size += 2 + len(current)
            stack.extend(current)
        elif isinstance(current, bool) or current is None:
            size += 5
        elif isinstance(current, int):
            size += 2 + current.bit_length() // 3
        else:
            size += 24
        if size > limit:
            return size
    return size


def check_items(items: Any, limits: Limits, *, what: str) -> None:
    """Refuse item data nested deeper or larger than the limits; ``what`` names it in the error."""
    depth = json_depth(items, limits.max_json_depth)
    if depth > limits.max_json_depth:
        raise InvalidInput(
            f"{what} is nested more than {limits.max_json_depth} levels deep",
            {"max_depth": limits.max_json_depth},
        )
    size = json_size(items, limits.max_items_bytes)
    if size > limits.max_items_bytes:
        raise PayloadTooLarge(
            f"{what} is larger than {_mib(limits.max_items_bytes)} as JSON (FLOWTAPE_MAX_ITEMS_BYTES)",
            {"limit_bytes": limits.max_items_bytes},
        )


def check_output(ports: Mapping[str, Any], limits: Limits, node_id: str) -> None:
    """A node's output (all its ports) within the limits, else :class:`OutputTooLarge` failing that node."""
    try:
        check_items(ports, limits, what=f"the output of node {node_id}")
    except (InvalidInput, PayloadTooLarge) as exc:
        raise OutputTooLarge(exc.message, exc.details) from None


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def _storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain a NUL character (\\u0000)")
    return text


#: text a service stores in a database column: PostgreSQL's text type cannot hold NUL
StoredText = Annotated[str, AfterValidator(_storable)]
