"""filter, sort, limit and remove_duplicates, run as a workflow would run them (flowtape.testing.run_node)."""

from __future__ import annotations

from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.filtering import FilterNode
from flowtape.common.nodes.library.sorting import LimitNode, RemoveDuplicatesNode, SortNode
from flowtape.testing import run_node


async def kept(conditions: list[dict[str, Any]], items: list[dict[str, Any]], **params: Any) -> list[Any]:
    ports = await run_node(FilterNode(), params={"conditions": conditions, **params}, items=items)
    return ports["main"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "n", "operator": "gt", "value": 2}, [3, 4]),
        ({"field": "n", "operator": "gte", "value": 3}, [3, 4]),
        ({"field": "n", "operator": "lt", "value": 2}, [1]),
        ({"field": "n", "operator": "lte", "value": 2}, [1, 2]),
        ({"field": "n", "operator": "between", "value": [2, 3]}, [2, 3]),
        ({"field": "n", "operator": "in", "value": [1, 4]}, [1, 4]),
        ({"field": "n", "operator": "not_in", "value": [1, 4]}, [2, 3, None]),
        ({"field": "n", "operator": "equals", "value": 2}, [2]),
        ({"field": "n", "operator": "not_equals", "value": 2}, [1, 3, 4, None]),
        ({"field": "n", "operator": "exists"}, [1, 2, 3, 4]),
        ({"field": "n", "operator": "not_exists"}, [None]),
        ({"field": "n", "operator": "is_number"}, [1, 2, 3, 4]),
    ],
)
async def test_comparisons_on_numbers(condition: dict[str, Any], expected: list[Any]) -> None:
    items: list[dict[str, Any]] = [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {}]
    assert [item.get("n") for item in await kept([condition], items)] == expected


async def test_text_operators_dotted_paths_and_case() -> None:
    items = [{"user": {"email": "Ann@Example.com"}}, {"user": {"email": "bob@other.org"}}, {"user": {}}]
    emails = lambda found: [i["user"].get("email") for i in found]  # noqa: E731
    assert emails(await kept([{"field": "user.email", "operator": "ends_with", "value": ".org"}], items)) == [
        "bob@other.org"
    ]
    contains = {"field": "user.email", "operator": "contains", "value": "example", "ignore_case": True}
    assert emails(await kept([contains], items)) == ["Ann@Example.com"]
    assert emails(await kept([{**contains, "ignore_case": False}], items)) == []
    regex = {"field": "user.email", "operator": "matches", "value": r"^[a-z]+@"}
    assert emails(await kept([regex], items)) == ["bob@other.org"]
    assert emails(await kept([{**regex, "operator": "not_matches"}], items)) == ["Ann@Example.com", None]


async def test_empty_types_and_any() -> None:
    items: list[dict[str, Any]] = [{"v": ""}, {"v": []}, {"v": {}}, {"v": None}, {"v": 0}, {"v": "x"}, {"v": True}]
    values = lambda found: [i.get("v") for i in found]  # noqa: E731
    assert values(await kept([{"field": "v", "operator": "empty"}], items)) == ["", [], {}, None]
    assert values(await kept([{"field": "v", "operator": "not_empty"}], items)) == [0, "x", True]
    assert values(await kept([{"field": "v", "operator": "is_true"}], items)) == [True]
    assert values(await kept([{"field": "v", "operator": "is_list"}], items)) == [[]]
    assert values(await kept([{"field": "v", "operator": "is_object"}], items)) == [{}]
    assert values(await kept([{"field": "v", "operator": "is_null"}], items)) == [None]
    either = [{"field": "v", "operator": "is_boolean"}, {"field": "v", "operator": "is_string"}]
    assert values(await kept(either, items, combine="any")) == ["", "x", True]
    assert values(await kept(either, items, combine="all")) == []


async def test_dates_and_loose_numbers() -> None:
    items = [{"at": "2026-01-01T10:00:00+01:00"}, {"at": "2026-01-01T10:00:00Z"}]
    after = {"field": "at", "operator": "after", "value": "2026-01-01T09:30:00Z"}
    assert await kept([after], items) == [{"at": "2026-01-01T10:00:00Z"}]
    numeric_text = [{"n": "10"}, {"n": "9"}]
    assert await kept([{"field": "n", "operator": "gt", "value": 9.5, "loose": True}], numeric_text) == [{"n": "10"}]


async def test_discarded_port_when_asked() -> None:
    ports = await run_node(
        FilterNode(),
        params={"conditions": [{"field": "ok", "operator": "is_true"}], "discarded_port": True},
        items=[{"ok": True}, {"ok": False}],
    )
    assert ports == {"main": [{"ok": True}], "discarded": [{"ok": False}]}


async def test_bad_data_names_the_item_and_field() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'total': cannot compare the text 'lots' with the number 5"):
        await kept([{"field": "total", "operator": "gt", "value": 5}], [{"total": 7}, {"total": "lots"}])
    with pytest.raises(NodeError, match=r"field 'when': expected an ISO 8601 date"):
        await kept([{"field": "when", "operator": "before", "value": "2026-01-01"}], [{"when": "soon"}])


async def test_bad_params_are_refused() -> None:
    with pytest.raises(NodeError, match=r"invalid parameters for filter: conditions.0.operator"):
        await kept([{"field": "a", "operator": "bigger"}], [{}])
    with pytest.raises(NodeError, match=r"invalid parameters for filter: conditions: List should have at least 1"):
        await kept([], [{}])
    with pytest.raises(NodeError, match=r"operator gt needs a value"):
        await kept([{"field": "a", "operator": "gt"}], [{"a": 1}])
    with pytest.raises(NodeError, match=r"invalid regular expression"):
        await kept([{"field": "a", "operator": "matches", "value": "(unclosed"}], [{"a": "x"}])


async def test_catastrophic_regex_fails_instead_of_hanging() -> None:
    with pytest.raises(NodeError, match=r"field 'a': the regular expression .* took longer than"):
        await kept([{"field": "a", "operator": "matches", "value": "(a|aa)+$"}], [{"a": "a" * 80 + "b"}])


async def test_sort_by_several_keys_with_missing_values() -> None:
    items = [{"k": "b", "n": 1}, {"n": 5}, {"k": "a", "n": 2}, {"k": "b", "n": 3}, {"k": "a"}]
    ports = await run_node(
        SortNode(), params={"keys": [{"field": "k"}, {"field": "n", "direction": "desc"}]}, items=items
    )
    assert ports["main"] == [{"k": "a", "n": 2}, {"k": "a"}, {"k": "b", "n": 3}, {"k": "b", "n": 1}, {"n": 5}]
    first = await run_node(SortNode(), params={"keys": [{"field": "k"}], "missing": "first"}, items=items)
    assert first["main"][0] == {"n": 5}
    descending = await run_node(SortNode(), params={"keys": [{"field": "k", "direction": "desc"}]}, items=items)
    assert [item.get("k") for item in descending["main"]] == ["b", "b", "a", "a", None]


async def test_sort_natural_case_and_mixed_types() -> None:
    items = [{"v": "Item 10"}, {"v": "item 9"}, {"v": "Item 1"}]
    natural = await run_node(
        SortNode(), params={"keys": [{"field": "v", "natural": True, "ignore_case": True}]}, items=items
    )
    assert [i["v"] for i in natural["main"]] == ["Item 1", "item 9", "Item 10"]
    mixed = await run_node(SortNode(), params={"keys": [{"field": "v"}]}, items=[{"v": "a"}, {"v": 2}, {"v": True}])
    assert [i["v"] for i in mixed["main"]] == [True, 2, "a"]


async def test_sort_bad_params() -> None:
    with pytest.raises(NodeError, match=r"invalid parameters for sort: keys.0.direction"):
        await run_node(SortNode(), params={"keys": [{"field": "a", "direction": "up"}]}, items=[{}])


async def test_limit_first_last_and_zero() -> None:
    items = [{"n": n} for n in range(5)]
    assert (await run_node(LimitNode(), params={"max_items": 2}, items=items))["main"] == items[:2]
    assert (await run_node(LimitNode(), params={"max_items": 2, "keep": "last"}, items=items))["main"] == items[3:]
    assert (await run_node(LimitNode(), params={"max_items": 0, "keep": "last"}, items=items))["main"] == []
    with pytest.raises(NodeError, match=r"invalid parameters for limit: max_items"):
        await run_node(LimitNode(), params={"max_items": -1}, items=items)


async def test_remove_duplicates_whole_items_and_keep_last() -> None:
    items = [{"a": 1, "b": {"x": 1}}, {"b": {"x": 1}, "a": 1}, {"a": 2}]
    assert (await run_node(RemoveDuplicatesNode(), items=items))["main"] == [items[0], items[2]]
    by_field = [{"e": "x", "n": 1}, {"e": "y", "n": 2}, {"e": "x", "n": 3}]
    last = await run_node(RemoveDuplicatesNode(), params={"fields": ["e"], "keep": "last"}, items=by_field)
    assert last["main"] == [{"e": "y", "n": 2}, {"e": "x", "n": 3}]
    with pytest.raises(NodeError, match=r"invalid parameters for remove_duplicates: fields.0"):
        await run_node(RemoveDuplicatesNode(), params={"fields": [""]}, items=items)
