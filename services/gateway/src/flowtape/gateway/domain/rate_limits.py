"""Which limit a request counts against, and how a refusal reads (the counting is :mod:`flowtape.gateway.rate_limits`).

A webhook path counts on its own; an API call without credentials, or with wrong ones, counts against its client
address (so guessing keys or passwords is slowed as well as answered 401); a signed-in caller counts as itself:
an API key on its own, a user's tokens together.
"""

from __future__ import annotations

import math
from typing import Literal

from flowtape.common.errors import RateLimited
from flowtape.gateway.domain.principals import Principal

Scope = Literal["api", "anonymous", "webhook"]


def anonymous_caller(client_address: str | None) -> str:
    return client_address or "unknown"


def before_reading(path: str, has_credentials: bool, client_address: str | None) -> tuple[Scope, str] | None:
    """The ``(scope, identity)`` a request counts against before its body is read, or None when it is counted
    later: a call with credentials once they are checked (:func:`signed_in_caller`), anything else not at all."""
    if path.startswith("/hooks/"):
        return "webhook", path
    if path.startswith("/api/") and not has_credentials:
        return "anonymous", anonymous_caller(client_address)
    return None


def signed_in_caller(principal: Principal) -> str:
    return f"key:{principal.key_id}" if principal.via == "api_key" else f"user:{principal.user_id}"


def retry_after(reset: float, now: float) -> int:
    """Whole seconds until the window resets, never 0: a client told to retry at once would be refused again."""
    return max(1, math.ceil(reset - now))


def refusal(limit: str, scope: Scope, retry_after: int) -> RateLimited:
    """The 429 (``details.retry_after`` also becomes the ``Retry-After`` header)."""
    return RateLimited(
        f"too many requests: the limit is {limit}; try again in {retry_after} s",
        {"limit": limit, "scope": scope, "retry_after": retry_after},
    )
