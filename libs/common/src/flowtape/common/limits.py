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
#: runs of one workflow under way at once (started, not finished, not parked in a wait); more are refused (429)
DEFAULT_MAX_QUEUED_RUNS = 10_000


@dataclass(frozen=True)
class Limits:
    """The platform's bounds, from settings (``FLOWTAPE_MAX_*``); the defaults suit most deployments."""

    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_items_bytes: int = DEFAULT_MAX_ITEMS_BYTES
    max_workflow_nodes: int = DEFAULT_MAX_WORKFLOW_NODES
    max_workflow_edges: int = DEFAULT_MAX_WORKFLOW_EDGES
    max_queued_runs_per_workflow: int = DEFAULT_MAX_QUEUED_RUNS


DEFAULT_LIMITS = Limits()


def json_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests objects and lists, counting at most to ``limit + 1`` (enough to refuse it)."""
    return measure(value, limit, _UNBOUNDED)[0]


def json_size(value: Any, limit: int) -> int:
    """The approximate size of ``value`` as JSON text, in bytes; counting stops once it passes ``limit``.

    Shared references count every time they appear, as they would when serialized.
    """
    return measure(value, _UNBOUNDED, limit)[1]


_UNBOUNDED = 1 << 62
_SCALAR = 5  # a number, boolean or null, roughly, with its separator


def measure(value: Any, max_depth: int, max_bytes: int) -> tuple[int, int]:
    """``(depth, size)`` of ``value`` as JSON in one walk, stopping as soon as either passes its bound.

    Every node output is measured on the hot path, so scalars inside a container are counted in place rather
    than pushed onto the walk's stack.
    """
    deepest = 0
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        current, depth = pop()
        if isinstance(current, Mapping):
            pairs: Any = current.items()
        elif isinstance(current, list | tuple):
            pairs = enumerate(current)
        else:
            size += len(current) + 3 if isinstance(current, str) else _SCALAR
            continue
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                return deepest, size
        size += 2 + len(current)
        is_mapping = isinstance(current, Mapping)
        for key, child in pairs:
            if is_mapping:
                size += len(key) + 3 if isinstance(key, str) else len(str(key)) + 3
            kind = type(child)
            if kind is str:
                size += len(child) + 3
                if size > max_bytes:
                    return deepest, size
            elif kind is int or kind is float or kind is bool or child is None:
                size += _SCALAR if kind is not int else 2 + child.bit_length() // 3
            else:
                push((child, depth + 1))
        if size > max_bytes:
            return deepest, size
    return deepest, size


def check_items(items: Any, limits: Limits, *, what: str) -> None:
    """Refuse item data nested deeper or larger than the limits; ``what`` names it in the error."""
    depth, size = measure(items, limits.max_json_depth, limits.max_items_bytes)
    if depth > limits.max_json_depth:
        raise InvalidInput(
            f"{what} is nested more than {limits.max_json_depth} levels deep",
            {"max_depth": limits.max_json_depth},
        )
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
