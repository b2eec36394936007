"""The ``filter`` node: keep the items that meet conditions on their fields, without writing an expression.

Each condition reads a field by dotted path and applies an operator. Comparisons (``gt``, ``lt``...) compare
numbers with numbers, text with text and dates with dates (``before``/``after`` read ISO 8601 or epoch
seconds); comparing a number with text fails the node naming the item and field, unless ``loose`` lets numeric
text count as a number. A missing or null field meets no condition except ``not_exists``, ``is_null``,
``empty`` and the negated ones. Regexes are bounded in time (see :mod:`.patterns`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.nodes.library.dates import parse_time
from flowtape.common.nodes.library.paths import MISSING, FieldPath, describe_value, field_error, get_path
from flowtape.common.nodes.library.patterns import compile_pattern
from flowtape.common.nodes.library.transforms import expect_number
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["FILTER_NODES", "FilterCondition", "FilterNode", "FilterParams"]

Operator = Literal[
    "equals",
    "not_equals",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "not_matches",
    "in",
    "not_in",
    "before",
    "after",
    "exists",
    "not_exists",
    "empty",
    "not_empty",
    "is_true",
    "is_false",
    "is_null",
    "is_string",
    "is_number",
    "is_boolean",
    "is_list",
    "is_object",
]
_NEEDS_VALUE = frozenset(
    {"equals", "not_equals", "gt", "gte", "lt", "lte", "between", "contains", "not_contains", "starts_with",
     "ends_with", "matches", "not_matches", "in", "not_in", "before", "after"}
)  # fmt: skip
_HOLDS_WHEN_ABSENT = frozenset(
    {"not_equals", "not_contains", "not_matches", "not_in", "not_exists", "empty", "is_null"}
)


class FilterCondition(BaseModel):
    """One test on one field."""

    model_config = ConfigDict(extra="forbid")

    field: FieldPath
    operator: Operator = Field(
        description="Comparisons: equals, not_equals, gt, gte, lt, lte, between ([low, high]), in / not_in "
        "(a list); text: contains, not_contains, starts_with, ends_with, matches / not_matches (a regex); "
        "dates: before, after; presence: exists, not_exists, empty, not_empty (null, '', [] or {}); "
        "types: is_true, is_false, is_null, is_string, is_number, is_boolean, is_list, is_object."
    )
    value: Any = Field(default=None, description="What to compare with (not used by presence and type checks).")
    ignore_case: bool = Field(default=False, description="Compare text regardless of case.")
    loose: bool = Field(default=False, description="Let numeric text ('12') compare as a number.")


class FilterParams(NodeParams):
    conditions: list[FilterCondition] = Field(min_length=1, description="The tests each item is put to.")
    combine: Literal["all", "any"] = Field(default="all", description="Keep items meeting all of them, or any.")
    discarded_port: bool = Field(
        default=False,
        description="Send the items that fail to port 'discarded' (to wire them on) instead of dropping them.",
    )


def _fold(value: Any, ignore_case: bool) -> Any:
    return value.casefold() if ignore_case and isinstance(value, str) else value


def _comparable(left: Any, right: Any, condition: FilterCondition) -> tuple[Any, Any]:
    if condition.loose:
        try:
            return expect_number(left), expect_number(right)
        except ValueError:
            pass
    numbers = (int, float)
    if isinstance(left, numbers) and not isinstance(left, bool) and isinstance(right, numbers):
        return left, right
    if isinstance(left, str) and isinstance(right, str):
        return _fold(left, condition.ignore_case), _fold(right, condition.ignore_case)
    raise field_error(
        condition.field,
        f"cannot compare {describe_value(left)} with {describe_value(right)} (set loose to compare numeric text "
        "as numbers)",
    )


def _text(value: Any, condition: FilterCondition) -> str:
    if isinstance(value, str):
        return str(_fold(value, condition.ignore_case))
    raise field_error(condition.field, f"operator {condition.operator} needs text, got {describe_value(value)}")


def _equal(left: Any, right: Any, condition: FilterCondition) -> bool:
    if condition.loose:
        try:
            return expect_number(left) == expect_number(right)
        except ValueError:
            pass
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(_fold(left, condition.ignore_case) == _fold(right, condition.ignore_case))


def holds(condition: FilterCondition, item: Item) -> bool:
    """Whether ``item`` meets ``condition``; a NodeError naming the field when they cannot be compared."""
    value = get_path(item, condition.field)
    operator = condition.operator
    absent = value is MISSING
    if operator == "exists":
        return not absent
    if operator == "not_exists":
        return absent
    if absent or value is None:
        return operator in _HOLDS_WHEN_ABSENT
    expected = condition.value
    if operator in _NEEDS_VALUE and expected is None:
        raise field_error(condition.field, f"operator {operator} needs a value to compare with")
    match operator:
        case "equals":
            return _equal(value, expected, condition)
        case "not_equals":
            return not _equal(value, expected, condition)
        case "gt" | "gte" | "lt" | "lte":
            left, right = _comparable(value, expected, condition)
            outcome: bool = {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[
                operator
            ]
            return outcome
        case "between":
            if not (isinstance(expected, list) and len(expected) == 2):
                raise field_error(condition.field, "operator between needs a value [low, high]")
            low, current = _comparable(expected[0], value, condition)
            current, high = _comparable(value, expected[1], condition)
            return bool(low <= current <= high)
        case "contains" | "not_contains":
            if isinstance(value, list):
                found = any(_equal(element, expected, condition) for element in value)
            elif isinstance(value, dict):
                found = expected in value
            else:
                found = _text(expected, condition) in _text(value, condition)
            return found == (operator == "contains")
        case "starts_with":
            return _text(value, condition).startswith(_text(expected, condition))
        case "ends_with":
            return _text(value, condition).endswith(_text(expected, condition))
        case "matches" | "not_matches":
            if not isinstance(expected, str):
                raise field_error(condition.field, f"operator {operator} needs a regular expression as text")
            pattern = compile_pattern(expected, condition.ignore_case)
            if not isinstance(value, str):
                raise field_error(condition.field, f"operator {operator} needs text, got {describe_value(value)}")
            found = pattern.search(value, where=f"field {condition.field!r}") is not None
            return found == (operator == "matches")
        case "in" | "not_in":
            if not isinstance(expected, list):
                raise field_error(condition.field, f"operator {operator} needs a list of values")
            found = any(_equal(value, option, condition) for option in expected)
            return found == (operator == "in")
        case "before" | "after":
            from datetime import UTC

            try:
                moment = parse_time(value, UTC)
            except ValueError as exc:
                raise field_error(condition.field, str(exc)) from exc
            try:
                other = parse_time(expected, UTC)
            except ValueError as exc:
                raise field_error(condition.field, f"the value to compare with: {exc}") from exc
            return moment < other if operator == "before" else moment > other
        case "empty":
            return value in ("", [], {})
        case "not_empty":
            return value not in ("", [], {})
        case "is_true":
            return value is True
        case "is_false":
            return value is False
        case "is_null":
            return False
        case "is_string":
            return isinstance(value, str)
        case "is_number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "is_boolean":
            return isinstance(value, bool)
        case "is_list":
            return isinstance(value, list)
        case "is_object":
            return isinstance(value, dict)
    raise AssertionError(operator)  # pragma: no cover: Literal covers every operator


class FilterNode(NodeType[FilterParams]):
    """Keeps items meeting the conditions; the others are dropped, or sent to ``discarded`` if asked."""

    type = "filter"
    category = "data"
    description = "Keeps the items whose fields meet all (or any) conditions (regex, comparisons, types, empty)."
    Params = FilterParams
    ports = ("main", "discarded")
    pure = True
    examples = (
        NodeExample(
            title="Paid orders over 100",
            params={
                "conditions": [
                    {"field": "status", "operator": "equals", "value": "paid"},
                    {"field": "total", "operator": "gt", "value": 100},
                ],
                "discarded_port": True,
            },
            input=[
                {"id": 1, "status": "paid", "total": 250},
                {"id": 2, "status": "open", "total": 300},
                {"id": 3, "status": "paid", "total": 20},
            ],
            output={
                "main": [{"id": 1, "status": "paid", "total": 250}],
                "discarded": [
                    {"id": 2, "status": "open", "total": 300},
                    {"id": 3, "status": "paid", "total": 20},
                ],
            },
        ),
        NodeExample(
            title="Any address at example.com, or no email at all",
            params={
                "combine": "any",
                "conditions": [
                    {"field": "email", "operator": "matches", "value": r"@example\.com$", "ignore_case": True},
                    {"field": "email", "operator": "empty"},
                ],
            },
            input=[{"email": "Ann@Example.com"}, {"email": "bob@other.org"}, {"email": ""}],
            output={"main": [{"email": "Ann@Example.com"}, {"email": ""}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: FilterParams, item: Item) -> NodeResult:
        results = (holds(condition, item) for condition in params.conditions)
        kept = all(results) if params.combine == "all" else any(results)
        if not params.discarded_port:
            return NodeResult.on([item] if kept else [])
        return NodeResult({"main": [item] if kept else [], "discarded": [] if kept else [item]})


FILTER_NODES: tuple[type[NodeType[Any]], ...] = (FilterNode,)
