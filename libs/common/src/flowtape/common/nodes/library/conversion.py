"""Types and numbers: ``convert_types`` (text, number, integer, boolean, JSON text), ``calculate`` over
fields, and JSON text in and out (``parse_json``, ``stringify_json``)."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field

from flowtape.common.nodes.library.paths import MISSING, FieldPath, describe_value, field_error, get_path, set_path
from flowtape.common.nodes.library.transforms import FieldNode, FieldParams, expect_number
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["CONVERSION_NODES", "CalculateNode", "ConvertTypesNode", "ParseJsonNode", "StringifyJsonNode"]

Target = Literal["string", "number", "integer", "boolean", "json_text", "from_json_text"]
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0", ""})
#: the largest integer convert/calculate build (a JSON number beyond it is no longer exact anywhere)
_MAX_DIGITS = 4300


def convert(value: Any, target: str) -> Any:
    """``value`` as ``target``; ValueError saying why it cannot be."""
    if target == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value, ensure_ascii=False)
    if target == "number":
        if isinstance(value, bool):
            return int(value)
        return expect_number(value)
    if target == "integer":
        if isinstance(value, bool):
            return int(value)
        number = expect_number(value)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(f"expected a whole number, got {describe_value(value)}")
        return int(number)
    if target == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise ValueError(f"expected true/false, yes/no, on/off or 1/0, got {describe_value(value)}")
    if target == "json_text":
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        raise ValueError(f"expected JSON text, got {describe_value(value)}")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


class ConvertTypesParams(NodeParams):
    fields: dict[str, Target] = Field(
        min_length=1,
        description="Field paths and the type to convert each to: string, number, integer, boolean, json_text "
        "(any value to JSON text) or from_json_text (JSON text to its value).",
    )
    if_missing: Literal["skip", "fail"] = Field(default="skip", description="What to do with items lacking a field.")


class ConvertTypesNode(NodeType[ConvertTypesParams]):
    type = "convert_types"
    category = "data"
    description = "Converts fields between text, numbers, booleans and JSON text; fails naming what cannot convert."
    Params = ConvertTypesParams
    pure = True
    examples = (
        NodeExample(
            title="Form fields to real types",
            params={"fields": {"qty": "integer", "price": "number", "gift": "boolean", "meta": "from_json_text"}},
            input=[{"qty": "3", "price": "9.90", "gift": "yes", "meta": '{"source": "web"}'}],
            output={"main": [{"qty": 3, "price": 9.9, "gift": True, "meta": {"source": "web"}}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: ConvertTypesParams, item: Item) -> NodeResult:
        for path, target in params.fields.items():
            value = get_path(item, path)
            if value is MISSING:
                if params.if_missing == "fail":
                    raise field_error(path, "is missing")
                continue
            try:
                converted = convert(value, target)
            except (ValueError, OverflowError) as exc:
                raise field_error(path, f"cannot convert to {target}: {exc}") from exc
            item = set_path(item, path, converted)
        return NodeResult.on([item])


Operation = Literal[
    "add", "subtract", "multiply", "divide", "modulo", "power", "min", "max", "average", "abs", "negate", "round",
    "floor", "ceil", "sqrt",
]  # fmt: skip


class CalculateParams(NodeParams):
    operation: Operation = Field(
        description="add, subtract, multiply, divide, modulo, power, min, max, average over the operands in "
        "order; abs, negate, round, floor, ceil, sqrt of the first."
    )
    operands: list[int | float | str] = Field(
        min_length=1,
        max_length=100,
        description="Numbers, or field paths whose values are numbers (numeric text counts), e.g. "
        "['price', 'qty'] or ['total', 1.2].",
    )
    to: FieldPath = Field(default="result", description="The field to write the result to.")
    decimals: int | None = Field(
        default=None, ge=0, le=15, description="Round the result to this many decimals (round: default 0)."
    )


def _operand(item: Item, operand: int | float | str, index: int) -> int | float:
    if not isinstance(operand, str):
        return operand
    value = get_path(item, operand)
    if value is MISSING or value is None:
        raise field_error(operand, f"operand {index + 1} is missing")
    try:
        return expect_number(value)
    except ValueError as exc:
        raise field_error(operand, str(exc)) from exc


def calculate(operation: str, numbers: list[int | float]) -> int | float:
    first, rest = numbers[0], numbers[1:]
    if operation == "abs":
        return abs(first)
    if operation == "negate":
        return -first
    if operation == "round":
        return round(first)
    if operation == "floor":
        return math.floor(first)
    if operation == "ceil":
        return math.ceil(first)
    if operation == "sqrt":
        if first < 0:
            raise ValueError("the square root of a negative number is not a real number")
        return math.sqrt(first)
    if operation == "min":
        return min(numbers)
    if operation == "max":
        return max(numbers)
    if operation == "average":
        return sum(numbers) / len(numbers)
    result = first
    for number in rest:
        if operation == "add":
            result += number
        elif operation == "subtract":
            result -= number
        elif operation == "multiply":
            result *= number
        elif operation in ("divide", "modulo"):
            if number == 0:
                raise ZeroDivisionError("division by zero")
            result = result / number if operation == "divide" else result % number
        elif operation == "power":
            if abs(number) > 10_000:
                raise OverflowError("the exponent is too large")
            result = result**number
    return result


class CalculateNode(NodeType[CalculateParams]):
    type = "calculate"
    category = "data"
    description = "Computes a number from fields and constants (add, multiply, divide, average, round...)."
    Params = CalculateParams
    pure = True
    examples = (
        NodeExample(
            title="A line total",
            params={"operation": "multiply", "operands": ["price", "qty"], "to": "total", "decimals": 2},
            input=[{"price": "19.99", "qty": 3}],
            output={"main": [{"price": "19.99", "qty": 3, "total": 59.97}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: CalculateParams, item: Item) -> NodeResult:
        numbers = [_operand(item, operand, index) for index, operand in enumerate(params.operands)]
        where = next((op for op in params.operands if isinstance(op, str)), params.to)
        if params.operation in ("divide", "modulo"):
            for operand, number in zip(params.operands[1:], numbers[1:], strict=True):
                if number == 0:
                    name = operand if isinstance(operand, str) else "operands"
                    raise field_error(name, f"{params.operation} failed: division by zero")
        try:
            result = calculate(params.operation, numbers)
            if isinstance(result, complex):
                raise ValueError("the result is not a real number")
            if isinstance(result, int) and abs(result).bit_length() > _MAX_DIGITS * 3:
                raise OverflowError("the result is too large")
        except (ArithmeticError, ValueError) as exc:
            raise field_error(where, f"{params.operation} failed: {exc}") from exc
        if isinstance(result, float) and not math.isfinite(result):
            raise field_error(where, f"{params.operation} gives {result}, which is not a JSON number")
        decimals = params.decimals if params.decimals is not None else (0 if params.operation == "round" else None)
        if decimals is not None:
            result = round(result, decimals)
            if decimals == 0:
                result = int(result)
        return NodeResult.on([set_path(item, params.to, result)])


class ParseJsonNode(FieldNode[FieldParams]):
    type = "parse_json"
    category = "data"
    description = "Parses a field holding JSON text into its value."
    Params = FieldParams
    examples = (
        NodeExample(
            title="A JSON payload held as text",
            params={"field": "payload"},
            input=[{"payload": '{"event": "signup", "ids": [1, 2]}'}],
            output={"main": [{"payload": {"event": "signup", "ids": [1, 2]}}]},
        ),
    )

    def transform(self, value: Any, params: FieldParams) -> Any:
        return convert(value, "from_json_text")


class StringifyJsonParams(FieldParams):
    indent: int | None = Field(default=None, ge=0, le=8, description="Indent nested values by this many spaces.")
    sort_keys: bool = Field(default=False, description="Write object keys in sorted order.")


class StringifyJsonNode(FieldNode[StringifyJsonParams]):
    type = "stringify_json"
    category = "data"
    description = "Writes a field's value as JSON text."
    Params = StringifyJsonParams
    accepts_null = True
    examples = (
        NodeExample(
            title="An object as compact JSON text",
            params={"field": "data", "to": "body", "sort_keys": True},
            input=[{"data": {"b": 1, "a": [True, None]}}],
            output={"main": [{"data": {"b": 1, "a": [True, None]}, "body": '{"a": [true, null], "b": 1}'}]},
        ),
    )

    def transform(self, value: Any, params: StringifyJsonParams) -> Any:
        return json.dumps(value, ensure_ascii=False, indent=params.indent, sort_keys=params.sort_keys)


CONVERSION_NODES: tuple[type[NodeType[Any]], ...] = (ConvertTypesNode, CalculateNode, ParseJsonNode, StringifyJsonNode)
