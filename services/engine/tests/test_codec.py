"""The fast event codec writes eventsourcing's own JSON format, so logs of either codec read the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from flowtape.engine.codec import FastJSONTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


STANDARD, FAST = registered(JSONTranscoder()), registered(FastJSONTranscoder())
NOW = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)
BODY: dict[str, Any] = {
    "timestamp": NOW,
    "evaluated": [
        {"node_id": f"n{i}", "started_at": NOW, "ports": {"main": [{"n": i, "price": Decimal("1.10"), "ü": "✓"}]}}
        for i in range(20)
    ],
    "meta": {"trace": None, "flags": [True, False], "ratio": 0.25},
}


def test_a_body_written_fast_is_the_standard_format_and_reads_back_exactly() -> None:
    written = FAST.encode(BODY)

    assert json.loads(written) == json.loads(STANDARD.encode(BODY))
    assert FAST.decode(written) == BODY == STANDARD.decode(written)


def test_a_log_written_by_the_standard_codec_reads_the_same_with_the_fast_one() -> None:
    assert FAST.decode(STANDARD.encode(BODY)) == BODY


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    body = {"big": 2**70, "negative": -(2**65), 3: "an int key, as the standard library writes it"}

    assert (
        FAST.decode(FAST.encode(body))
        == STANDARD.decode(STANDARD.encode(body))
        == {
            "big": 2**70,
            "negative": -(2**65),
            "3": "an int key, as the standard library writes it",
        }
    )
