"""The sign-in throttling rules on their own: delays that double, ceilings that spare known addresses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flowtape.auth.domain.throttling import LoginHistory, LoginPolicy, delay_after, retry_after

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = LoginPolicy(
    free_attempts=5,
    max_delay=timedelta(minutes=15),
    memory=timedelta(hours=24),
    per_address=20,
    per_account=100,
    window=timedelta(minutes=15),
    known_for=timedelta(days=30),
)


def ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def history(
    pair: Sequence[datetime] = (),
    address: Sequence[datetime] = (),
    account: Sequence[datetime] = (),
    known: bool = False,
) -> LoginHistory:
    return LoginHistory(pair=pair, address=address, account=account, known_address=known)


def test_the_delay_doubles_after_the_free_attempts_up_to_its_ceiling() -> None:
    assert [delay_after(n, POLICY).total_seconds() for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert delay_after(15, POLICY) == timedelta(minutes=15)
    assert delay_after(10_000, POLICY) == timedelta(minutes=15)
    assert POLICY.pair_failures_that_matter >= 15


def test_an_attempt_waits_out_the_delay_of_its_account_and_address() -> None:
    assert retry_after(history(pair=ago(40, 30, 20, 10)), POLICY, NOW) is None
    assert retry_after(history(pair=ago(50, 40, 30, 20, 10, 0.5)), POLICY, NOW) == 2  # 6 failures: 2 s after the last
    assert retry_after(history(pair=ago(50, 40, 30, 20, 10, 3)), POLICY, NOW) is None
    forgotten = [NOW - timedelta(hours=25)] * 30  # older than the memory
    assert retry_after(history(pair=forgotten), POLICY, NOW) is None


def test_the_ceilings_are_sliding_windows_and_known_addresses_pass_the_account_one() -> None:
    busy_address = ago(*range(100, 120))  # 20 failures from this address, the oldest 119 s ago
    assert retry_after(history(address=busy_address), POLICY, NOW) == 900 - 119
    attacked = ago(*range(1, 101))  # 100 failures of the account from anywhere
    assert retry_after(history(account=attacked), POLICY, NOW) == 900 - 100
    assert retry_after(history(account=attacked, known=True), POLICY, NOW) is None
    assert retry_after(history(address=busy_address, known=True), POLICY, NOW) == 900 - 119
