"""Ordering and selecting items: ``sort`` (several keys, natural order), ``limit`` (first or last N) and
``remove_duplicates`` (by fields or the whole item)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, cmp_to_key
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.nodes.library.paths import MISSING, FieldPath, get_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["SORTING_NODES", "LimitNode", "RemoveDuplicatesNode", "SortKey", "SortNode"]


@cache
def _natural(ignore_case: bool) -> Callable[[str], Any]:
    """natsort's key for numbers in text ("a2" before "a10"); the library loads with the first natural sort."""
    from natsort import natsort_keygen, ns

    key: Callable[[str], Any] = natsort_keygen(alg=ns.INT | ns.SIGNED | (ns.IGNORECASE if ignore_case else 0))
    return key


class SortKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: FieldPath
    direction: Literal["asc", "desc"] = Field(default="asc")
    natural: bool = Field(default=False, description="Order numbers inside text by value: 'item 2' before 'item 10'.")
    ignore_case: bool = Field(default=False, description="Order text regardless of case.")


class SortParams(NodeParams):
    keys: list[SortKey] = Field(min_length=1, description="Sort by the first key, then the next for ties, and so on.")
    missing: Literal["last", "first"] = Field(
        default="last", description="Where items without the field (or with null) go, whatever the direction."
    )


def _rank(value: Any) -> int:
    """Values of different types order by type: booleans, numbers, text, lists, objects."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return 1
    if isinstance(value, str):
        return 2
    if isinstance(value, list):
        return 3
    return 4


def _sortable(value: Any, key: SortKey) -> Any:
    if isinstance(value, str):
        if key.natural:
            return _natural(key.ignore_case)(value)
        return value.casefold() if key.ignore_case else value
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


class SortNode(NodeType[SortParams]):
    """A stable sort: items equal on every key keep their input order."""

    type = "sort"
    category = "data"
    description = "Sorts items by one or more fields, ascending or descending, optionally in natural order."
    Params = SortParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="By team, then by score from highest",
            params={"keys": [{"field": "team"}, {"field": "score", "direction": "desc"}]},
            input=[
                {"team": "b", "score": 5},
                {"team": "a", "score": 7},
                {"team": "b", "score": 9},
                {"team": "a", "score": 8},
            ],
            output={
                "main": [
                    {"team": "a", "score": 8},
                    {"team": "a", "score": 7},
                    {"team": "b", "score": 9},
                    {"team": "b", "score": 5},
                ]
            },
        ),
        NodeExample(
            title="File names in natural order",
            params={"keys": [{"field": "name", "natural": True}]},
            input=[{"name": "file10.txt"}, {"name": "file2.txt"}, {"name": "file1.txt"}],
            output={"main": [{"name": "file1.txt"}, {"name": "file2.txt"}, {"name": "file10.txt"}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: SortParams, items: list[Item]) -> NodeResult:
        missing_first = params.missing == "first"
        keyed = [
            (
                [
                    (_rank(value), _sortable(value, key)) if value is not MISSING and value is not None else None
                    for key in params.keys
                    for value in (get_path(item, key.field),)
                ],
                item,
            )
            for item in items
        ]

        def compare(left: tuple[list[Any], Item], right: tuple[list[Any], Item]) -> int:
            for key, a, b in zip(params.keys, left[0], right[0], strict=True):
                if a is None or b is None:
                    if a is None and b is None:
                        continue
                    a_first = (a is None) == missing_first
                    return -1 if a_first else 1
                if a == b:
                    continue
                try:
                    order = -1 if a < b else 1
                except TypeError:  # natural keys of different shapes
                    order = -1 if str(a) < str(b) else 1
                return order if key.direction == "asc" else -order
            return 0

        keyed.sort(key=cmp_to_key(compare))
        return NodeResult.on([item for _, item in keyed])


class LimitParams(NodeParams):
    max_items: int = Field(ge=0, description="How many items to keep.")
    keep: Literal["first", "last"] = Field(default="first", description="Keep the first or the last ones.")


class LimitNode(NodeType[LimitParams]):
    type = "limit"
    category = "data"
    description = "Keeps only the first (or last) N items."
    Params = LimitParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="The last two",
            params={"max_items": 2, "keep": "last"},
            input=[{"n": 1}, {"n": 2}, {"n": 3}],
            output={"main": [{"n": 2}, {"n": 3}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: LimitParams, items: list[Item]) -> NodeResult:
        if params.keep == "first":
            return NodeResult.on(items[: params.max_items])
        return NodeResult.on(items[len(items) - params.max_items :] if params.max_items else [])


class RemoveDuplicatesParams(NodeParams):
    fields: list[FieldPath] = Field(
        default_factory=list,
        description="Items with equal values in all these fields are duplicates; empty: compare whole items.",
    )
    keep: Literal["first", "last"] = Field(default="first", description="Which of the duplicates stays.")


class RemoveDuplicatesNode(NodeType[RemoveDuplicatesParams]):
    type = "remove_duplicates"
    category = "data"
    description = "Drops items that repeat an earlier one, comparing chosen fields or the whole item."
    Params = RemoveDuplicatesParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="One item per email",
            params={"fields": ["email"]},
            input=[
                {"email": "a@example.com", "n": 1},
                {"email": "b@example.com", "n": 2},
                {"email": "a@example.com", "n": 3},
            ],
            output={"main": [{"email": "a@example.com", "n": 1}, {"email": "b@example.com", "n": 2}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: RemoveDuplicatesParams, items: list[Item]) -> NodeResult:
        def identity(item: Item) -> str:
            if not params.fields:
                return json.dumps(item, sort_keys=True, default=str)
            values = [get_path(item, path) for path in params.fields]
            return json.dumps([None if v is MISSING else v for v in values], sort_keys=True, default=str)

        ordered = items if params.keep == "first" else list(reversed(items))
        seen: set[str] = set()
        kept: list[Item] = []
        for item in ordered:
            key = identity(item)
            if key not in seen:
                seen.add(key)
                kept.append(item)
        return NodeResult.on(kept if params.keep == "first" else list(reversed(kept)))


SORTING_NODES: tuple[type[NodeType[Any]], ...] = (SortNode, LimitNode, RemoveDuplicatesNode)
