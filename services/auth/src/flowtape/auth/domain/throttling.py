"""Login throttling: failed attempts per account and per client address within a sliding window.

Only failures count (a user who types the right password is never slowed down), and a throttled attempt is
not checked at all, so it costs no argon2 time and records nothing: hammering a locked account neither burns
CPU nor extends the lock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginLimits:
    per_account: int
    per_address: int
    window: timedelta


def retry_after(failures: Sequence[datetime], limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until one more attempt is allowed, or None when it is allowed now.

    ``failures`` are the times of recent failures (any order). When ``limit`` of them fall inside the window,
    the next attempt waits until enough of them have aged out of it.
    """
    recent = sorted(at for at in failures if at > now - window)
    if len(recent) < limit:
        return None
    oldest_that_blocks = recent[len(recent) - limit]
    return max(1, math.ceil((oldest_that_blocks + window - now).total_seconds()))
