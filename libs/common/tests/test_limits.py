"""The bounds every service applies to item data: measured without recursion or serialization."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from flowtape.common.errors import InvalidInput, PayloadTooLarge
from flowtape.common.limits import Limits, StoredText, check_items, json_depth, json_size


def nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_depth_counts_objects_and_lists_without_recursion() -> None:
    assert json_depth({"a": [1, {"b": 2}]}, 10) == 3
    assert json_depth("text", 10) == 0
    deep = nested(100_000)  # far deeper than the interpreter could recurse
    assert json_depth(deep, 64) == 65


def test_size_is_close_to_the_json_text_and_stops_past_the_limit() -> None:
    items = [{"name": "ada", "n": 12345, "tags": ["x", "y"], "ok": True, "none": None}] * 50
    exact = len(json.dumps(items, separators=(",", ":")))
    assert exact * 0.8 <= json_size(items, 10**9) <= exact * 1.5
    shared = ["x" * 999_999] * 200  # one string, 200 references: 200 MB as JSON
    assert json_size(shared, 16 * 1024 * 1024) < 20 * 1024 * 1024  # counting stopped early


def test_check_items_names_what_is_refused() -> None:
    limits = Limits(max_json_depth=8, max_items_bytes=1024)
    check_items([{"a": "b"}], limits, what="the trigger input")
    with pytest.raises(InvalidInput, match="trigger input is nested more than 8 levels"):
        check_items([nested(20)], limits, what="the trigger input")
    with pytest.raises(PayloadTooLarge, match="output of node big is larger than"):
        check_items([{"a": "x" * 2000}], limits, what="the output of node big")


def test_stored_text_refuses_nul() -> None:
    adapter = TypeAdapter(StoredText)
    assert adapter.validate_python("plain") == "plain"
    with pytest.raises(ValidationError, match="NUL"):
        adapter.validate_python("nul\x00name")
