"""Measuring a body before parsing it: the depth of JSON text, and NUL in query strings."""

from __future__ import annotations

import json
import random

from flowtape.common.limits import json_depth
from flowtape.gateway.domain.bodies import is_json, json_text_depth, nul_parameter


def random_json(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([1, -2.5, True, None, "x", 'tricky "]}[{" \\ text', "\\", "\u00e9\u2603", ""])
    if rng.random() < 0.5:
        return [random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}{'[{'[i % 2]}": random_json(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_text_depth_agrees_with_the_depth_of_the_parsed_value() -> None:
    rng = random.Random(8)
    for _ in range(500):
        value = random_json(rng, rng.randint(0, 12))
        for text in (json.dumps(value), json.dumps(value, indent=2, ensure_ascii=False)):
            assert json_text_depth(text.encode(), 64) == json_depth(value, 64), text


def test_brackets_and_escapes_inside_strings_do_not_count() -> None:
    assert json_text_depth(b'{"a": "[[[[{{{{"}', 64) == 1
    assert json_text_depth(b'{"a": "\\\\", "b": ["\\"[["]}', 64) == 2
    assert json_text_depth(b'"\\\\\\"[[["', 64) == 0
    assert json_text_depth(b"12", 64) == 0


def test_counting_stops_past_the_limit_however_deep_the_text() -> None:
    for depth in (65, 200, 900, 5_000_000):
        assert json_text_depth(b"[" * depth + b"]" * depth, 64) == 65
    sawtooth = b"[[]," * 100_000 + b"]" * 100_000  # deep without a long run of openers
    assert json_text_depth(sawtooth, 64) == 65
    assert json_text_depth(b"[" * 64 + b"]" * 64, 64) == 64


def test_malformed_text_is_measured_only_as_far_as_it_pairs_up() -> None:
    assert json_text_depth(b'{"a": ]}', 64) == 1  # a bracket pairs with a brace: the parser refuses it
    assert json_text_depth(b"[[[", 64) == 0


def test_what_counts_as_json() -> None:
    assert is_json(None) and is_json(b"") and is_json(b"application/json; charset=utf-8")
    assert is_json("application/vnd.api+json") and is_json(b"text/json")
    assert not is_json(b"text/plain") and not is_json(b"application/x-www-form-urlencoded; x=json")


def test_nul_in_a_query_is_named() -> None:
    assert nul_parameter(b"limit=5&cursor=abc") is None
    assert nul_parameter(b"limit=5&action=a%00b") == "action"
    assert nul_parameter(b"we%00ird=1") == "we\\u0000ird"
