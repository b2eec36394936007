"""The text and date/time nodes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.dates import (
    ConvertTimezoneNode,
    DateAddNode,
    DateBoundaryNode,
    DateDiffNode,
    FormatDateNode,
    NowNode,
    ParseDateNode,
)
from flowtape.common.nodes.library.text import (
    ChangeCaseNode,
    JoinTextNode,
    PadTextNode,
    RenderTemplateNode,
    ReplaceTextNode,
    SlugifyNode,
    SplitTextNode,
    TrimTextNode,
    TruncateTextNode,
)
from flowtape.common.nodes.sdk import NodeType
from flowtape.testing import run_node


async def value(node: NodeType[Any], value: Any, **params: Any) -> Any:
    ports = await run_node(node, params={"field": "v", **params}, items=[{"v": value}])
    return ports["main"][0]["v"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("upper", "HTTPS SERVER ID-42"),
        ("lower", "https server id-42"),
        ("title", "Https Server Id-42"),
        ("sentence", "Https server id-42"),
        ("snake", "https_server_id_42"),
        ("kebab", "https-server-id-42"),
        ("camel", "httpsServerId42"),
        ("pascal", "HttpsServerId42"),
    ],
)
async def test_change_case(case: str, expected: str) -> None:
    assert await value(ChangeCaseNode(), "HTTPS server ID-42", case=case) == expected


async def test_change_case_splits_camel_words() -> None:
    assert await value(ChangeCaseNode(), "parseHTTPResponse", case="snake") == "parse_http_response"


async def test_trim_pad_truncate() -> None:
    assert await value(TrimTextNode(), "--a--", characters="-", side="start") == "a--"
    assert await value(TrimTextNode(), "  a  ", side="end") == "  a"
    assert await value(PadTextNode(), "7", width=3, side="end", fill=".") == "7.."
    assert await value(PadTextNode(), "ab", width=6, side="both", fill="*") == "**ab**"
    assert await value(PadTextNode(), "toolong", width=3) == "toolong"
    assert await value(TruncateTextNode(), "abcdef", length=4) == "abc…"
    assert await value(TruncateTextNode(), "abcdef", length=4, ellipsis="") == "abcd"
    assert await value(TruncateTextNode(), "abc", length=4) == "abc"


async def test_replace_literal_and_regex() -> None:
    assert await value(ReplaceTextNode(), "a.b.c", find=".", replace="\\") == "a\\b\\c"
    assert await value(ReplaceTextNode(), "a.b.c", find=".", replace="-", count=1) == "a-b.c"
    assert await value(ReplaceTextNode(), "2026-03-01", find=r"(\d+)-(\d+)-(\d+)", replace=r"\3/\2/\1", regex=True) == (
        "01/03/2026"
    )
    with pytest.raises(NodeError, match=r"field 'v': the regular expression .* took longer than"):
        await value(ReplaceTextNode(), "a" * 80 + "b", find="(a|aa)+$", regex=True)
    with pytest.raises(NodeError, match=r"invalid regular expression"):
        await value(ReplaceTextNode(), "x", find="[", regex=True)


async def test_split_and_join() -> None:
    assert await value(SplitTextNode(), "a1b22c", separator=r"\d+", regex=True) == ["a", "b", "c"]
    assert await value(SplitTextNode(), "a, ,b", trim=False, drop_empty=False) == ["a", " ", "b"]
    assert await value(SplitTextNode(), "a,b,c", max_splits=1) == ["a", "b,c"]
    assert await value(JoinTextNode(), ["a", 1, None, {"k": True}], separator="|") == 'a|1||{"k": true}'
    with pytest.raises(NodeError, match=r"field 'v': expected a list, got str"):
        await value(JoinTextNode(), "abc")


async def test_slugify() -> None:
    assert await value(SlugifyNode(), "Привет, мир & Straße") == "privet-mir-strasse"
    assert await value(SlugifyNode(), "One two three four", max_length=9, separator="_") == "one_two"


async def test_text_bad_data_and_params() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'v': expected text, got a list of 0"):
        await run_node(ChangeCaseNode(), params={"field": "v", "case": "upper"}, items=[{"v": "a"}, {"v": []}])
    with pytest.raises(NodeError, match=r"field 'v': is missing"):
        await run_node(TrimTextNode(), params={"field": "v"}, items=[{}])
    with pytest.raises(NodeError, match=r"invalid parameters for pad_text: width"):
        await value(PadTextNode(), "x", width=10**9)
    with pytest.raises(NodeError, match=r"invalid parameters for change_case: case"):
        await value(ChangeCaseNode(), "x", case="shout")
    skipped = await run_node(TrimTextNode(), params={"field": "v", "if_missing": "skip"}, items=[{"w": 1}])
    assert skipped["main"] == [{"w": 1}]


async def test_render_template_loops_and_sandbox() -> None:
    template = "{% for l in item.lines if l.qty > 1 %}{{ l.sku | lower }}{% if not loop.last %},{% endif %}{% endfor %}"
    ports = await run_node(
        RenderTemplateNode(),
        params={"template": template},
        items=[{"lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}, {"sku": "C", "qty": 5}]}],
    )
    assert ports["main"][0]["text"] == "a,c"
    with pytest.raises(NodeError, match=r"unsafe"):
        await run_node(RenderTemplateNode(), params={"template": "{{ item.__class__ }}"}, items=[{}])
    with pytest.raises(NodeError, match=r"invalid template"):
        await run_node(RenderTemplateNode(), params={"template": "{% for %}"}, items=[{}])
    started = time.monotonic()
    with pytest.raises(NodeError, match=r"took longer than"):
        await run_node(
            RenderTemplateNode(),
            params={"template": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"},
            items=[{}],
        )
    assert time.monotonic() - started < 10


async def test_parse_and_format_dates() -> None:
    assert await value(ParseDateNode(), "2026-03-01") == "2026-03-01T00:00:00+00:00"
    assert await value(ParseDateNode(), "2026-03-01T10:00:00", timezone="Asia/Tokyo") == "2026-03-01T10:00:00+09:00"
    assert (
        await value(ParseDateNode(), 0, format="epoch_seconds", timezone="Europe/Paris") == "1970-01-01T01:00:00+01:00"
    )
    assert await value(FormatDateNode(), "2026-03-01T10:00:00.250Z", format="epoch_milliseconds") == 1772359200250
    assert await value(FormatDateNode(), 1772323200, format="date", timezone="Pacific/Honolulu") == "2026-02-28"
    assert await value(FormatDateNode(), "2026-03-01T10:00:00Z", format="iso", timezone="Europe/Paris") == (
        "2026-03-01T11:00:00+01:00"
    )


async def test_date_arithmetic_and_boundaries() -> None:
    assert await value(DateAddNode(), "2024-02-29T00:00:00Z", amount=1, unit="years") == "2025-02-28T00:00:00+00:00"
    assert await value(DateAddNode(), "2026-03-01T00:00:00Z", amount=90, unit="minutes", operation="subtract") == (
        "2026-02-28T22:30:00+00:00"
    )
    # a wall-clock day across the spring DST change in Paris (29 March 2026) is 23 hours: noon stays noon
    assert await value(DateAddNode(), "2026-03-28T12:00:00", amount=1, unit="days", timezone="Europe/Paris") == (
        "2026-03-29T12:00:00+02:00"
    )
    boundary = await value(DateBoundaryNode(), "2026-05-14T10:00:00Z", unit="week", edge="end")
    assert boundary == "2026-05-17T23:59:59.999+00:00"
    assert await value(DateBoundaryNode(), "2026-05-14T10:00:00Z", unit="quarter") == "2026-04-01T00:00:00+00:00"
    assert await value(DateBoundaryNode(), "2026-05-14T10:00:00Z", unit="week", week_starts_on="sunday") == (
        "2026-05-10T00:00:00+00:00"
    )
    assert await value(ConvertTimezoneNode(), "2026-07-01T12:00:00Z", to_timezone="America/Los_Angeles") == (
        "2026-07-01T05:00:00-07:00"
    )


async def test_date_diff_units() -> None:
    item = {"a": "2026-01-31T00:00:00Z", "b": "2026-04-30T12:00:00Z"}

    async def diff(unit: str, **params: Any) -> Any:
        ports = await run_node(DateDiffNode(), params={"start": "a", "end": "b", "unit": unit, **params}, items=[item])
        return ports["main"][0]["difference"]

    assert await diff("months") == 3  # 31 January + 3 months is 30 April, as date_add counts
    assert await diff("days") == 89.5
    assert await diff("days", whole=True) == 89
    assert await diff("hours") == 2148
    assert await diff("years") == 0
    reverse = await run_node(DateDiffNode(), params={"start": "b", "end": "a", "unit": "months"}, items=[item])
    assert reverse["main"][0]["difference"] == -3


async def test_date_bad_data_and_params() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'v': expected an ISO 8601 date, got 'yesterday'"):
        await run_node(ParseDateNode(), params={"field": "v"}, items=[{"v": "2026-01-01"}, {"v": "yesterday"}])
    with pytest.raises(NodeError, match=r"field 'v': expected a date in the format '%d/%m/%Y'"):
        await value(ParseDateNode(), "2026-01-01", format="%d/%m/%Y")
    with pytest.raises(
        NodeError, match=r"invalid parameters for format_date: timezone: Value error, unknown time zone"
    ):
        await value(FormatDateNode(), "2026-01-01", timezone="Mars/Olympus")
    with pytest.raises(NodeError, match=r"field 'b': is missing"):
        await run_node(DateDiffNode(), params={"start": "a", "end": "b"}, items=[{"a": "2026-01-01"}])
    with pytest.raises(NodeError, match=r"field 'v': months can only be added in whole numbers"):
        await value(DateAddNode(), "2026-01-01", amount=1.5, unit="months")


async def test_now_writes_one_reading_for_all_items() -> None:
    now = datetime.now(UTC)
    before = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the node writes milliseconds
    ports = await run_node(NowNode(), params={"timezone": "Europe/Paris"}, items=[{"n": 1}, {"n": 2}])
    stamps = [item["now"] for item in ports["main"]]
    assert stamps[0] == stamps[1]
    moment = datetime.fromisoformat(stamps[0])
    assert moment.utcoffset() is not None and before <= moment <= datetime.now(UTC)
    assert NowNode.deterministic is False and NowNode.pure is True
