"""``Retry-After`` as APIs send it: the delay a rate-limited node waits before its retry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowtape.connectors.domain.retry_after import MAX_RETRY_AFTER_SECONDS, retry_after_seconds

NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),  # a delay in the past is no delay
        ("86400", MAX_RETRY_AFTER_SECONDS),  # a day is capped: a run does not sleep for days because an API said so
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("Thu, 03 Dec 2026 10:00:30 GMT", 30.0),
        ("Thu, 03 Dec 2026 09:59:00 GMT", 0.0),
        ("Fri, 04 Dec 2026 10:00:00 GMT", MAX_RETRY_AFTER_SECONDS),
        ("Thu, 03 Dec 2026 10:01:00", 60.0),  # no zone: taken as UTC
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds
