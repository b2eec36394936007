"""Dotted paths into items: ``customer.address.city``, ``lines.0.sku`` or ``lines[0].sku``.

A segment of digits indexes a list (and is an ordinary key in an object). Reading never fails on a missing
key, it answers :data:`MISSING`; writing copies every object and list on the way down, so an input item
(which the log has recorded) is never changed in place.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Any, Final

from pydantic import Field

from flowtape.common.errors import NodeError

__all__ = [
    "MISSING",
    "FieldPath",
    "delete_path",
    "describe_value",
    "field_error",
    "get_path",
    "parse_path",
    "set_path",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: what :func:`get_path` answers for a path that leads nowhere
MISSING: Final = _Missing()

#: a parameter naming a field of the item by its dotted path
FieldPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=r"^[^\s.\[\]]",
        description="A field of the item by its dotted path, e.g. 'customer.email' or 'lines.0.sku'.",
    ),
]

_INDEX = re.compile(r"\[(\d+)\]")


@lru_cache(maxsize=2048)
def parse_path(path: str) -> tuple[str, ...]:
    """The segments of ``path``; ``a[0].b`` is ``("a", "0", "b")``."""
    segments = tuple(_INDEX.sub(r".\1", path).split("."))
    if any(not segment for segment in segments):
        raise NodeError(f"field path {path!r} has an empty segment", {"field": path})
    return segments


def _index(container: list[Any], segment: str) -> int | None:
    if segment.isdigit():
        position = int(segment)
        if position < len(container):
            return position
    return None


def get_path(item: Any, path: str) -> Any:
    """The value at ``path``, or :data:`MISSING` when any step of the way is absent."""
    current = item
    for segment in parse_path(path):
        if isinstance(current, dict):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list):
            position = _index(current, segment)
            if position is None:
                return MISSING
            current = current[position]
        else:
            return MISSING
    return current


def set_path(item: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``item`` with ``value`` at ``path``; missing objects on the way are created."""
    segments = parse_path(path)
    result: dict[str, Any] = _set(item, segments, value, path)
    return result


def _set(container: Any, segments: tuple[str, ...], value: Any, path: str) -> Any:
    head, rest = segments[0], segments[1:]
    if isinstance(container, dict):
        copy = dict(container)
        copy[head] = _set(copy.get(head, {}), rest, value, path) if rest else value
        return copy
    if isinstance(container, list):
        position = _index(container, head)
        if position is None:
            raise field_error(path, f"list index {head} is out of range (the list has {len(container)} elements)")
        items = list(container)
        items[position] = _set(items[position], rest, value, path) if rest else value
        return items
    raise field_error(path, f"cannot set a field inside {describe_value(container)}")


def delete_path(item: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``item`` without ``path``; the item itself when the path is absent."""
    if get_path(item, path) is MISSING:
        return item
    result: dict[str, Any] = _delete(item, parse_path(path))
    return result


def _delete(container: Any, segments: tuple[str, ...]) -> Any:
    head, rest = segments[0], segments[1:]
    if isinstance(container, dict):
        copy = dict(container)
        if rest:
            copy[head] = _delete(copy[head], rest)
        else:
            del copy[head]
        return copy
    items = list(container)
    position = int(head)
    if rest:
        items[position] = _delete(items[position], rest)
    else:
        del items[position]
    return items


def describe_value(value: Any) -> str:
    """A short phrase for error messages: ``the text 'abc'``, ``a list``, ``nothing (null)``."""
    if value is MISSING:
        return "nothing (the field is missing)"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def field_error(path: str, message: str) -> NodeError:
    """A node error about one field; the SDK adds which item it was."""
    return NodeError(f"field {path!r}: {message}", {"field": path})
