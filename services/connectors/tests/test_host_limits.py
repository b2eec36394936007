"""``FLOWTAPE_EGRESS_RATE_LIMITS``: which limit an outgoing request's host falls under."""

from __future__ import annotations

import pytest

from flowtape.common.credentials import RateLimit
from flowtape.connectors.domain.host_limits import HostLimits

LIMITS = HostLimits.parse("api.example.com=10/s:20, *.slack.com=1/s,Files.Example.org = 0.5 / s:3")


@pytest.mark.parametrize(
    ("host", "limit"),
    [
        ("api.example.com", ("api.example.com", RateLimit(per_second=10, burst=20))),
        ("API.Example.COM", ("api.example.com", RateLimit(per_second=10, burst=20))),
        ("hooks.slack.com", (".slack.com", RateLimit(per_second=1, burst=1))),
        ("a.b.slack.com", (".slack.com", RateLimit(per_second=1, burst=1))),
        ("files.example.org", ("files.example.org", RateLimit(per_second=0.5, burst=3))),
        ("slack.com", None),  # *.slack.com is its subdomains
        ("notslack.com", None),
        ("www.api.example.com", None),  # a host without * is that host only
        ("example.com", None),
    ],
)
def test_a_host_falls_under_its_limit(host: str, limit: tuple[str, RateLimit] | None) -> None:
    assert LIMITS.of(host) == limit


def test_no_setting_limits_nothing() -> None:
    assert HostLimits.parse("").of("api.example.com") is None
    assert HostLimits.parse(" , ").limits == ()


@pytest.mark.parametrize(
    "entry", ["api.example.com=fast", "api.example.com", "api.example.com=10/m", "=1/s", "a b=1/s"]
)
def test_an_entry_that_is_not_a_limit_is_refused_naming_the_setting(entry: str) -> None:
    with pytest.raises(ValueError, match=r"FLOWTAPE_EGRESS_RATE_LIMITS: .* is not host=<n>/s\[:burst\]"):
        HostLimits.parse(f"ok.example.com=1/s,{entry}")
