"""Many items into few and back: ``summarize`` (group by, with count, sum, average, min, max, concatenate,
collect...), ``aggregate`` (all items, or chosen fields, into one item) and ``split_out`` (a list field into
one item per element)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.paths import (
    MISSING,
    FieldPath,
    describe_value,
    field_error,
    get_path,
    parse_path,
    set_path,
)
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["AGGREGATION_NODES", "AggregateNode", "Aggregation", "SplitOutNode", "SummarizeNode"]

Operation = Literal[
    "count", "count_unique", "sum", "average", "min", "max", "concatenate", "collect", "collect_unique", "first", "last"
]


class Aggregation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: Operation = Field(
        description="count (items with the field; all items without a field), count_unique, sum, average, min, "
        "max, concatenate (text), collect (a list), collect_unique, first, last."
    )
    field: FieldPath | None = Field(default=None, description="The field to aggregate (optional for count).")
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The output field's name; by default '<operation>_<field>' (e.g. 'sum_total'), or 'count'.",
    )
    separator: str = Field(default=", ", max_length=100, description="For concatenate: what goes between values.")


class SummarizeParams(NodeParams):
    group_by: list[FieldPath] = Field(
        default_factory=list, description="Fields whose values form the groups; empty: all items are one group."
    )
    aggregations: list[Aggregation] = Field(min_length=1, description="What to compute for each group.")


def _name(aggregation: Aggregation) -> str:
    if aggregation.to:
        return aggregation.to
    if aggregation.field is None:
        return aggregation.operation
    return f"{aggregation.operation}_{aggregation.field.replace('.', '_')}"


def _number(value: Any, path: str, index: int) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise NodeError(f"item {index}: field {path!r}: expected a number, got {describe_value(value)}", {"item": index})


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _compute(aggregation: Aggregation, rows: list[tuple[int, Item]]) -> Any:
    path = aggregation.field
    operation = aggregation.operation
    if path is None:
        if operation != "count":
            raise NodeError(f"aggregation {operation} needs a field")
        return len(rows)
    present = [
        (index, value) for index, item in rows if (value := get_path(item, path)) is not MISSING and value is not None
    ]
    values = [value for _, value in present]
    if operation == "count":
        return len(values)
    if operation == "count_unique":
        return len({_key(value) for value in values})
    if operation == "collect":
        return values
    if operation == "collect_unique":
        unique: dict[str, Any] = {}
        for value in values:
            unique.setdefault(_key(value), value)
        return list(unique.values())
    if operation == "first":
        return values[0] if values else None
    if operation == "last":
        return values[-1] if values else None
    if operation == "concatenate":
        return aggregation.separator.join(
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) for value in values
        )
    if operation in ("sum", "average"):
        numbers = [_number(value, path, index) for index, value in present]
        total = sum(numbers)
        if operation == "sum":
            return total
        return total / len(numbers) if numbers else None
    # min / max: numbers with numbers, text with text
    if not values:
        return None

    def kind(value: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return "number"
        return "text" if isinstance(value, str) else "other"

    expected = kind(values[0]) if kind(values[0]) != "other" else "number"
    for index, value in present:
        if kind(value) != expected:
            raise NodeError(
                f"item {index}: field {path!r}: {operation} compares numbers with numbers or text with text, "
                f"got {describe_value(value)}",
                {"item": index, "field": path},
            )
    return min(values) if operation == "min" else max(values)


class SummarizeNode(NodeType[SummarizeParams]):
    """One item per group, in the order groups first appear: the group fields, then each aggregation."""

    type = "summarize"
    category = "data"
    description = "Groups items by fields and computes count, sum, average, min, max, concatenate or lists per group."
    Params = SummarizeParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="Revenue and orders per country",
            params={
                "group_by": ["country"],
                "aggregations": [
                    {"operation": "count", "to": "orders"},
                    {"operation": "sum", "field": "total", "to": "revenue"},
                    {"operation": "max", "field": "total"},
                ],
            },
            input=[
                {"country": "FR", "total": 10},
                {"country": "DE", "total": 5},
                {"country": "FR", "total": 30},
            ],
            output={
                "main": [
                    {"country": "FR", "orders": 2, "revenue": 40, "max_total": 30},
                    {"country": "DE", "orders": 1, "revenue": 5, "max_total": 5},
                ]
            },
        ),
    )

    async def run(self, ctx: NodeContext, params: SummarizeParams, items: list[Item]) -> NodeResult:
        groups: dict[str, tuple[list[Any], list[tuple[int, Item]]]] = {}
        for index, item in enumerate(items):
            values = [get_path(item, path) for path in params.group_by]
            values = [None if value is MISSING else value for value in values]
            groups.setdefault(_key(values), (values, []))[1].append((index, item))
        if not groups and not params.group_by:
            groups[_key([])] = ([], [])
        output: list[Item] = []
        for values, rows in groups.values():
            summary: Item = {}
            for path, value in zip(params.group_by, values, strict=True):
                summary = set_path(summary, path, value)
            for aggregation in params.aggregations:
                summary[_name(aggregation)] = _compute(aggregation, rows)
            output.append(summary)
        return NodeResult.on(output)


class AggregateParams(NodeParams):
    mode: Literal["items", "fields"] = Field(
        default="items",
        description="'items': every item, whole, into one list; 'fields': each chosen field's values into a list.",
    )
    to: str = Field(default="items", min_length=1, max_length=500, description="For 'items': the list's field name.")
    fields: list[FieldPath] = Field(
        default_factory=list, description="For 'fields': the fields to collect (each list is named after its field)."
    )
    keep_missing: bool = Field(default=False, description="For 'fields': put null in the list for items without it.")


class AggregateNode(NodeType[AggregateParams]):
    """The inverse of ``split_out``: all input items into one item."""

    type = "aggregate"
    category = "data"
    description = "Collects all items into one item: as a list of items, or each chosen field as a list."
    Params = AggregateParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="All items into one",
            params={"to": "rows"},
            input=[{"n": 1}, {"n": 2}],
            output={"main": [{"rows": [{"n": 1}, {"n": 2}]}]},
        ),
        NodeExample(
            title="The emails as one list",
            params={"mode": "fields", "fields": ["email"]},
            input=[{"email": "a@example.com"}, {"name": "no email"}, {"email": "b@example.com"}],
            output={"main": [{"email": ["a@example.com", "b@example.com"]}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: AggregateParams, items: list[Item]) -> NodeResult:
        if params.mode == "items":
            return NodeResult.on([{params.to: list(items)}])
        if not params.fields:
            raise NodeError("invalid parameters for aggregate: mode 'fields' needs at least one field in 'fields'")
        result: Item = {}
        for path in params.fields:
            values = [get_path(item, path) for item in items]
            if params.keep_missing:
                collected = [None if value is MISSING else value for value in values]
            else:
                collected = [value for value in values if value is not MISSING]
            result[parse_path(path)[-1]] = collected
        return NodeResult.on([result])


class SplitOutParams(NodeParams):
    field: FieldPath = Field(description="The list field whose elements become items.")
    include: Literal["none", "all", "selected"] = Field(
        default="none",
        description="Which other fields of the item each new item keeps: none, all, or those in 'fields'.",
    )
    fields: list[FieldPath] = Field(default_factory=list, description="With include 'selected': the fields kept.")
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The field each element goes to; by default an object element is the new item itself "
        "(merged with the kept fields), anything else goes to the list field's name.",
    )


class SplitOutNode(NodeType[SplitOutParams]):
    """The inverse of ``aggregate``: one item per element of a list field."""

    type = "split_out"
    category = "data"
    description = "Turns a list field into one item per element, keeping none, all or some of the other fields."
    Params = SplitOutParams
    pure = True
    examples = (
        NodeExample(
            title="One item per order line, with the order id",
            params={"field": "lines", "include": "selected", "fields": ["order"]},
            input=[{"order": 7, "customer": "Ann", "lines": [{"sku": "A"}, {"sku": "B"}]}],
            output={"main": [{"order": 7, "sku": "A"}, {"order": 7, "sku": "B"}]},
        ),
        NodeExample(
            title="Tags to items",
            params={"field": "tags", "to": "tag"},
            input=[{"tags": ["red", "blue"]}],
            output={"main": [{"tag": "red"}, {"tag": "blue"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: SplitOutParams, item: Item) -> NodeResult:
        elements = get_path(item, params.field)
        if elements is MISSING or elements is None:
            return NodeResult.on([])
        if not isinstance(elements, list):
            raise field_error(params.field, f"expected a list, got {describe_value(elements)}")
        if params.include == "all":
            base = {key: value for key, value in item.items() if key != parse_path(params.field)[0]}
        elif params.include == "selected":
            base = {}
            for path in params.fields:
                value = get_path(item, path)
                if value is not MISSING:
                    base = set_path(base, path, value)
        else:
            base = {}
        name = params.to or parse_path(params.field)[-1]
        output = [
            {**base, **element} if params.to is None and isinstance(element, dict) else set_path(base, name, element)
            for element in elements
        ]
        if params.include != "none" and output:
            ctx.check_output(output, f"split_out of field {params.field!r}")
        return NodeResult.on(output)


AGGREGATION_NODES: tuple[type[NodeType[Any]], ...] = (SummarizeNode, AggregateNode, SplitOutNode)
