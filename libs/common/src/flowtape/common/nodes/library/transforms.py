"""The shape most field-level nodes share: read one field of each item, transform it, write the result.

A subclass sets ``Params`` (a :class:`FieldParams`) and implements :meth:`FieldNode.transform`; a
``ValueError`` it raises becomes a node error naming the field (the SDK adds which item). The result goes to
``to`` when given, else over the field itself.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.paths import MISSING, FieldPath, describe_value, field_error, get_path, set_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeParams, NodeResult, NodeType

__all__ = ["FieldNode", "FieldParams", "expect_number", "expect_text"]


class FieldParams(NodeParams):
    """Which field to read and where to write the result."""

    field: FieldPath = Field(title="Field", description="The field to read, by dotted path, e.g. 'customer.name'.")
    to: FieldPath | None = Field(
        default=None,
        title="Write to",
        description="The field to write the result to (dotted path); by default the field itself is replaced.",
    )
    if_missing: Literal["fail", "skip"] = Field(
        default="fail",
        title="If the field is missing",
        description="'fail': the node fails naming the item and field; 'skip': the item passes on unchanged.",
    )


FP = TypeVar("FP", bound=FieldParams)


class FieldNode(NodeType[FP]):
    """A pure per-item node that replaces one field's value by ``transform(value)``."""

    mode: ClassVar[Literal["per_item", "batch"]] = "per_item"
    pure = True
    #: whether null counts as a value to transform (otherwise it is treated like a missing field)
    accepts_null: ClassVar[bool] = False

    def transform(self, value: Any, params: FP) -> Any:
        raise NotImplementedError

    async def run_item(self, ctx: NodeContext, params: FP, item: Item) -> NodeResult:
        value = get_path(item, params.field)
        if value is MISSING or (value is None and not self.accepts_null):
            if params.if_missing == "skip":
                return NodeResult.on([item])
            raise field_error(params.field, f"is missing (got {describe_value(value)}); set if_missing to 'skip'")
        try:
            result = self.transform(value, params)
        except NodeError as exc:
            if exc.message.startswith("field "):
                raise
            raise field_error(params.field, exc.message) from exc
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            raise field_error(params.field, str(exc)) from exc
        return NodeResult.on([set_path(item, params.to or params.field, result)])


def expect_text(value: Any) -> str:
    """Text as it is; numbers and booleans as they print in JSON; anything else is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    raise ValueError(f"expected text, got {describe_value(value)}")


def expect_number(value: Any) -> int | float:
    """A number, or text that spells one (``"12.5"``); anything else is refused."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {describe_value(value)}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {describe_value(value)}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {describe_value(value)}")
        return number
    raise ValueError(f"expected a number, got {describe_value(value)}")
