"""Which limit a request counts against and how its refusal reads (docs/security.md, "Rate limits")."""

from __future__ import annotations

import pytest

from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.domain.rate_limits import (
    Scope,
    anonymous_caller,
    before_reading,
    refusal,
    retry_after,
    signed_in_caller,
)


@pytest.mark.parametrize(
    ("path", "credentials", "client", "counted"),
    [
        ("/hooks/shop/orders", False, "10.0.0.1", ("webhook", "/hooks/shop/orders")),
        ("/hooks/shop/orders", True, "10.0.0.1", ("webhook", "/hooks/shop/orders")),  # per path, whoever calls
        ("/hooks/resume/t0k3n", False, None, ("webhook", "/hooks/resume/t0k3n")),
        ("/api/v1/workflows", False, "10.0.0.1", ("anonymous", "10.0.0.1")),
        ("/api/v1/auth/login", False, None, ("anonymous", "unknown")),
        ("/api/v1/workflows", True, "10.0.0.1", None),  # counted once the credentials are checked
        ("/", False, "10.0.0.1", None),  # the console's pages
        ("/metrics", False, "10.0.0.1", None),
    ],
)
def test_what_counts_before_the_body_is_read(
    path: str, credentials: bool, client: str | None, counted: tuple[Scope, str] | None
) -> None:
    assert before_reading(path, credentials, client) == counted


def test_an_api_key_counts_on_its_own_and_a_users_tokens_together() -> None:
    key = Principal(user_id="u-1", email="u@x.test", role="editor", via="api_key", key_id="k-1")
    other_key = Principal(user_id="u-1", email="u@x.test", role="editor", via="api_key", key_id="k-2")
    token = Principal(user_id="u-1", email="u@x.test", role="editor", via="token", session_id="s-1")
    other_session = Principal(user_id="u-1", email="u@x.test", role="editor", via="token", session_id="s-2")
    assert signed_in_caller(key) != signed_in_caller(other_key)
    assert signed_in_caller(token) == signed_in_caller(other_session) == "user:u-1"
    assert signed_in_caller(key) == "key:k-1" != signed_in_caller(token)
    assert anonymous_caller("10.0.0.1") == "10.0.0.1" and anonymous_caller(None) == "unknown"


@pytest.mark.parametrize(
    ("reset", "now", "seconds"),
    [(100.0, 40.0, 60), (100.0, 99.2, 1), (100.0, 40.5, 60), (100.0, 100.0, 1), (100.0, 130.0, 1)],
)
def test_retry_after_is_whole_seconds_to_the_windows_end_and_never_zero(reset: float, now: float, seconds: int) -> None:
    assert retry_after(reset, now) == seconds


def test_a_refusal_names_the_limit_and_when_to_try_again() -> None:
    refused = refusal("10 per 1 minute", "api", 42)
    assert refused.code == "rate_limited"
    assert refused.message == "too many requests: the limit is 10 per 1 minute; try again in 42 s"
    assert refused.details == {"limit": "10 per 1 minute", "scope": "api", "retry_after": 42}
