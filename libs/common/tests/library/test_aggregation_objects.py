"""summarize, aggregate, split_out, the object edits, convert_types, calculate and JSON text."""

from __future__ import annotations

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.limits import Limits
from flowtape.common.nodes.library.aggregation import AggregateNode, SplitOutNode, SummarizeNode
from flowtape.common.nodes.library.conversion import CalculateNode, ConvertTypesNode, ParseJsonNode, StringifyJsonNode
from flowtape.common.nodes.library.objects import (
    FlattenNode,
    OmitFieldsNode,
    PickFieldsNode,
    RenameFieldsNode,
    SetFieldsNode,
    UnflattenNode,
)
from flowtape.testing import run_node, test_context

SALES = [
    {"region": "north", "rep": "ann", "amount": 10, "tag": "a"},
    {"region": "south", "rep": "bob", "amount": 4, "tag": "b"},
    {"region": "north", "rep": "cid", "amount": 6.5, "tag": "a"},
    {"region": "north", "rep": "ann", "tag": "c"},
]


async def test_summarize_every_operation() -> None:
    aggregations = [
        {"operation": op, "field": field}
        for op, field in [
            ("count", "amount"),
            ("count_unique", "rep"),
            ("sum", "amount"),
            ("average", "amount"),
            ("min", "amount"),
            ("max", "rep"),
            ("concatenate", "tag"),
            ("collect", "rep"),
            ("collect_unique", "rep"),
            ("first", "rep"),
            ("last", "rep"),
        ]
    ] + [{"operation": "count", "to": "items"}]
    ports = await run_node(SummarizeNode(), params={"group_by": ["region"], "aggregations": aggregations}, items=SALES)
    north, south = ports["main"]
    assert north == {
        "region": "north",
        "count_amount": 2,
        "count_unique_rep": 2,
        "sum_amount": 16.5,
        "average_amount": 8.25,
        "min_amount": 6.5,
        "max_rep": "cid",
        "concatenate_tag": "a, a, c",
        "collect_rep": ["ann", "cid", "ann"],
        "collect_unique_rep": ["ann", "cid"],
        "first_rep": "ann",
        "last_rep": "ann",
        "items": 3,
    }
    assert south["region"] == "south" and south["items"] == 1


async def test_summarize_without_groups_and_on_no_items() -> None:
    total = {"aggregations": [{"operation": "sum", "field": "amount"}, {"operation": "count"}]}
    assert (await run_node(SummarizeNode(), params=total, items=SALES))["main"] == [{"sum_amount": 20.5, "count": 4}]
    assert (await run_node(SummarizeNode(), params=total, items=[]))["main"] == [{"sum_amount": 0, "count": 0}]


async def test_summarize_bad_data_and_params() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'amount': expected a number, got the text 'ten'"):
        await run_node(
            SummarizeNode(),
            params={"aggregations": [{"operation": "sum", "field": "amount"}]},
            items=[{"amount": 1}, {"amount": "ten"}],
        )
    with pytest.raises(NodeError, match=r"item 1: field 'v': max compares numbers with numbers"):
        await run_node(
            SummarizeNode(), params={"aggregations": [{"operation": "max", "field": "v"}]}, items=[{"v": 1}, {"v": "a"}]
        )
    with pytest.raises(NodeError, match=r"invalid parameters for summarize: aggregations.0.operation"):
        await run_node(SummarizeNode(), params={"aggregations": [{"operation": "median", "field": "a"}]})
    with pytest.raises(NodeError, match=r"aggregation sum needs a field"):
        await run_node(SummarizeNode(), params={"aggregations": [{"operation": "sum"}]}, items=[{}])


async def test_aggregate_and_split_out_are_inverses() -> None:
    items = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]
    one = await run_node(AggregateNode(), params={"to": "lines"}, items=items)
    assert one["main"] == [{"lines": items}]
    back = await run_node(SplitOutNode(), params={"field": "lines"}, items=one["main"])
    assert back["main"] == items


async def test_aggregate_fields_and_split_out_includes() -> None:
    items = [{"e": "a", "n": {"v": 1}}, {"n": {"v": 2}}]
    fields = await run_node(AggregateNode(), params={"mode": "fields", "fields": ["e", "n.v"]}, items=items)
    assert fields["main"] == [{"e": ["a"], "v": [1, 2]}]
    missing = await run_node(
        AggregateNode(), params={"mode": "fields", "fields": ["e"], "keep_missing": True}, items=items
    )
    assert missing["main"] == [{"e": ["a", None]}]
    order = {"id": 1, "who": "ann", "tags": ["x", "y"]}
    every = await run_node(SplitOutNode(), params={"field": "tags", "include": "all", "to": "tag"}, items=[order])
    assert every["main"] == [{"id": 1, "who": "ann", "tag": "x"}, {"id": 1, "who": "ann", "tag": "y"}]
    assert (await run_node(SplitOutNode(), params={"field": "none"}, items=[order]))["main"] == []


async def test_aggregate_and_split_out_bad_input() -> None:
    with pytest.raises(NodeError, match=r"mode 'fields' needs at least one field"):
        await run_node(AggregateNode(), params={"mode": "fields"}, items=[{}])
    with pytest.raises(NodeError, match=r"item 1: field 'tags': expected a list, got the text 'x'"):
        await run_node(SplitOutNode(), params={"field": "tags"}, items=[{"tags": []}, {"tags": "x"}])
    with pytest.raises(NodeError, match=r"invalid parameters for split_out: include"):
        await run_node(SplitOutNode(), params={"field": "tags", "include": "some"}, items=[{}])


async def test_split_out_respects_the_size_limit() -> None:
    big = {"blob": "x" * 5_000, "parts": list(range(100))}
    ctx = test_context(limits=Limits(max_items_bytes=100_000))
    with pytest.raises(NodeError, match=r"split_out of field 'parts' is larger than"):
        await run_node(SplitOutNode(), params={"field": "parts", "include": "all"}, items=[big], context=ctx)


async def test_object_edits_do_not_change_their_input() -> None:
    item = {"a": {"b": 1, "c": [1, {"d": 2}]}, "e": 3}
    snapshot = repr(item)
    picked = await run_node(PickFieldsNode(), params={"fields": ["a.c.1.d", "e", "nope"]}, items=[item])
    assert picked["main"] == [{"a": {"c": {"1": {"d": 2}}}, "e": 3}]
    omitted = await run_node(OmitFieldsNode(), params={"fields": ["a.c[1].d", "e", "nope.x"]}, items=[item])
    assert omitted["main"] == [{"a": {"b": 1, "c": [1, {}]}}]
    renamed = await run_node(RenameFieldsNode(), params={"renames": [{"from": "a.b", "to": "x.y"}]}, items=[item])
    assert renamed["main"] == [{"a": {"c": [1, {"d": 2}]}, "e": 3, "x": {"y": 1}}]
    set_ = await run_node(SetFieldsNode(), params={"values": {"a.c.0": "{{ item.e * 2 }}", "f.g": True}}, items=[item])
    assert set_["main"] == [{"a": {"b": 1, "c": [6, {"d": 2}]}, "e": 3, "f": {"g": True}}]
    assert repr(item) == snapshot


async def test_object_edit_errors() -> None:
    with pytest.raises(NodeError, match=r"field 'a.b': cannot set a field inside the number 1"):
        await run_node(SetFieldsNode(), params={"values": {"a.b": 2}}, items=[{"a": 1}])
    with pytest.raises(NodeError, match=r"field 'l.5': list index 5 is out of range"):
        await run_node(SetFieldsNode(), params={"values": {"l.5": 2}}, items=[{"l": [1]}])
    with pytest.raises(NodeError, match=r"item 1: field 'old': is missing"):
        await run_node(
            RenameFieldsNode(),
            params={"renames": [{"from": "old", "to": "new"}], "if_missing": "fail"},
            items=[{"old": 1}, {}],
        )
    with pytest.raises(NodeError, match=r"invalid parameters for pick_fields: fields"):
        await run_node(PickFieldsNode(), params={"fields": []}, items=[{}])


async def test_flatten_and_unflatten() -> None:
    item = {"a": {"b": {"c": 1}, "l": [1, {"x": 2}]}, "e": {}}
    flat = await run_node(FlattenNode(), items=[item])
    assert flat["main"] == [{"a.b.c": 1, "a.l": [1, {"x": 2}], "e": {}}]
    with_lists = await run_node(FlattenNode(), params={"lists": True, "separator": "_"}, items=[item])
    assert with_lists["main"] == [{"a_b_c": 1, "a_l_0": 1, "a_l_1_x": 2, "e": {}}]
    back = await run_node(UnflattenNode(), items=flat["main"])
    assert back["main"] == [item]
    inner = await run_node(FlattenNode(), params={"field": "a"}, items=[item])
    assert inner["main"][0]["a"] == {"b.c": 1, "l": [1, {"x": 2}]}
    with pytest.raises(NodeError, match=r"field 'a.b': 'a' is both a value and an object"):
        await run_node(UnflattenNode(), items=[{"a": 1, "a.b": 2}])
    with pytest.raises(NodeError, match=r"field 'e': expected an object to flatten"):
        await run_node(FlattenNode(), params={"field": "e"}, items=[{"e": 1}])


async def test_convert_types() -> None:
    item = {"a": "12", "b": 1.0, "c": "off", "d": [1], "e": "3.5", "f": '{"x": null}', "g": False}
    fields = {
        "a": "integer",
        "b": "integer",
        "c": "boolean",
        "d": "json_text",
        "e": "number",
        "f": "from_json_text",
        "g": "string",
        "h": "number",
    }
    ports = await run_node(ConvertTypesNode(), params={"fields": fields}, items=[item])
    assert ports["main"] == [{"a": 12, "b": 1, "c": False, "d": "[1]", "e": 3.5, "f": {"x": None}, "g": "false"}]


async def test_convert_types_errors() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'n': cannot convert to integer: expected a whole number"):
        await run_node(ConvertTypesNode(), params={"fields": {"n": "integer"}}, items=[{"n": "1"}, {"n": "1.5"}])
    with pytest.raises(NodeError, match=r"field 'b': cannot convert to boolean: expected true/false"):
        await run_node(ConvertTypesNode(), params={"fields": {"b": "boolean"}}, items=[{"b": "maybe"}])
    with pytest.raises(NodeError, match=r"field 'j': cannot convert to from_json_text: invalid JSON at line 1"):
        await run_node(ConvertTypesNode(), params={"fields": {"j": "from_json_text"}}, items=[{"j": "{"}])
    with pytest.raises(NodeError, match=r"field 'h': is missing"):
        await run_node(ConvertTypesNode(), params={"fields": {"h": "string"}, "if_missing": "fail"}, items=[{}])
    with pytest.raises(NodeError, match=r"invalid parameters for convert_types: fields.a"):
        await run_node(ConvertTypesNode(), params={"fields": {"a": "date"}}, items=[{}])


@pytest.mark.parametrize(
    ("operation", "operands", "expected"),
    [
        ("add", ["a", "b", 1], 8),
        ("subtract", ["a", "b"], 1),
        ("multiply", ["a", "b"], 12),
        ("divide", ["a", "b"], 4 / 3),
        ("modulo", ["a", "b"], 1),
        ("power", ["b", 2], 9),
        ("min", ["a", "b"], 3),
        ("max", ["a", "b"], 4),
        ("average", ["a", "b"], 3.5),
        ("negate", ["a"], -4),
        ("abs", ["neg"], 2.5),
        ("round", ["neg"], -2),
        ("floor", ["neg"], -3),
        ("ceil", ["neg"], -2),
        ("sqrt", ["a"], 2.0),
    ],
)
async def test_calculate(operation: str, operands: list[object], expected: float) -> None:
    item = {"a": 4, "b": "3", "neg": -2.5}
    ports = await run_node(CalculateNode(), params={"operation": operation, "operands": operands}, items=[item])
    assert ports["main"][0]["result"] == pytest.approx(expected)


async def test_calculate_errors() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'b': divide failed: division by zero"):
        await run_node(
            CalculateNode(),
            params={"operation": "divide", "operands": ["a", "b"]},
            items=[{"a": 1, "b": 1}, {"a": 1, "b": 0}],
        )
    with pytest.raises(NodeError, match=r"field 'a': expected a number, got the text 'x'"):
        await run_node(CalculateNode(), params={"operation": "add", "operands": ["a", 1]}, items=[{"a": "x"}])
    with pytest.raises(NodeError, match=r"field 'a': operand 1 is missing"):
        await run_node(CalculateNode(), params={"operation": "add", "operands": ["a", 1]}, items=[{}])
    with pytest.raises(NodeError, match=r"power failed: the exponent is too large"):
        await run_node(CalculateNode(), params={"operation": "power", "operands": ["a", 10**6]}, items=[{"a": 9}])
    with pytest.raises(NodeError, match=r"invalid parameters for calculate: operation"):
        await run_node(CalculateNode(), params={"operation": "log", "operands": [1]}, items=[{}])


async def test_json_text_both_ways() -> None:
    parsed = await run_node(ParseJsonNode(), params={"field": "t"}, items=[{"t": '[1, {"a": true}]'}])
    assert parsed["main"] == [{"t": [1, {"a": True}]}]
    text = await run_node(StringifyJsonNode(), params={"field": "t", "indent": 2}, items=parsed["main"])
    assert text["main"] == [{"t": '[\n  1,\n  {\n    "a": true\n  }\n]'}]
    null = await run_node(StringifyJsonNode(), params={"field": "n"}, items=[{"n": None}])
    assert null["main"] == [{"n": "null"}]
    with pytest.raises(NodeError, match=r"field 't': invalid JSON at line 1 column 2"):
        await run_node(ParseJsonNode(), params={"field": "t"}, items=[{"t": "{oops"}])
    with pytest.raises(NodeError, match=r"field 't': is missing"):
        await run_node(ParseJsonNode(), params={"field": "t"}, items=[{}])
    assert (await run_node(ParseJsonNode(), params={"field": "t", "if_missing": "skip"}, items=[{}]))["main"] == [{}]
