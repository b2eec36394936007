"""Sign-in throttling as OWASP's Authentication Cheat Sheet describes it: slow a guesser down, never lock the
owner out.

Three counts of recent failures decide whether an attempt is checked at all:

- **per account and client address**: the first ``free_attempts`` failures cost nothing; after that each attempt
  waits twice as long as the one before (1 s, 2 s, 4 s, ... up to ``max_delay``), until that address signs in
  to that account or ``memory`` has passed. This is what slows one attacker, and it touches nobody else: the
  owner signing in from their own address does not wait for failures made from another one.
- **per client address**, across accounts: ``per_address`` failures within ``window`` (one address trying one
  password on many accounts).
- **per account**, across addresses: a much higher ceiling, ``per_account`` failures within ``window`` (a guesser
  with many addresses). Above it only *known* addresses, those the account signed in from within
  ``known_for``, may still try: OWASP's device cookie, keyed by address, so that even a distributed attack
  does not keep the owner out of the places they sign in from.

Only failures count (the right password is never slowed down by the caller's own count of zero), and an
attempt that has to wait is not checked: it costs no argon2 time, records nothing and extends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginPolicy:
    free_attempts: int
    max_delay: timedelta
    memory: timedelta
    per_address: int
    per_account: int
    window: timedelta
    known_for: timedelta

    @property
    def kept_for(self) -> timedelta:
        """How long a failure can matter to any of the counts."""
        return max(self.memory, self.window)

    @property
    def pair_failures_that_matter(self) -> int:
        """More failures of one account from one address than this cannot lengthen the delay further."""
        return self.free_attempts + max(0, math.ceil(math.log2(max(1.0, self.max_delay.total_seconds())))) + 1


@dataclass(frozen=True)
class LoginHistory:
    """Recent failures (each list at least as long as the policy needs; any order) and whether the address
    signed in to the account before."""

    pair: Sequence[datetime]
    address: Sequence[datetime]
    account: Sequence[datetime]
    known_address: bool


def delay_after(failures: int, policy: LoginPolicy) -> timedelta:
    """How long the next attempt of an account from one address waits after ``failures`` failures in a row."""
    if failures < policy.free_attempts:
        return timedelta(0)
    ceiling = policy.max_delay.total_seconds()
    return timedelta(seconds=min(ceiling, 2.0 ** min(failures - policy.free_attempts, 40)))


def window_wait(failures: Sequence[datetime], limit: int, window: timedelta, now: datetime) -> timedelta | None:
    """When ``limit`` failures fall inside the sliding window, how long until enough of them age out of it."""
    recent = sorted(at for at in failures if at > now - window)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window - now


def retry_after(history: LoginHistory, policy: LoginPolicy, now: datetime) -> int | None:
    """Whole seconds until an attempt may be checked, or None when it may be checked now."""
    waits: list[timedelta] = []
    pair = [at for at in history.pair if at > now - policy.memory]
    if pair:
        until = max(pair) + delay_after(len(pair), policy)
        if until > now:
            waits.append(until - now)
    for failures, limit, applies in (
        (history.address, policy.per_address, True),
        (history.account, policy.per_account, not history.known_address),
    ):
        wait = window_wait(failures, limit, policy.window, now) if applies else None
        if wait is not None:
            waits.append(wait)
    if not waits:
        return None
    return max(1, math.ceil(max(waits).total_seconds()))
