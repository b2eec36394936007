"""When schedules tick: cron (5 and 6 fields) and intervals in a time zone, and the catch-up policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowtape.common.nodes.builtin import ScheduleParams
from flowtape.triggers.domain.schedule import Schedule


def schedule(**params: object) -> Schedule:
    return Schedule.of(ScheduleParams.model_validate(params))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_five_field_cron_ticks_on_minutes_in_its_time_zone() -> None:
    paris = schedule(cron="30 9 * * MON-FRI", timezone="Europe/Paris")
    # Friday 2026-01-02 09:30 in Paris is 08:30 UTC (winter); the next weekday tick is Monday
    assert paris.next_after(at("2026-01-02T00:00:00+00:00")) == at("2026-01-02T08:30:00+00:00")
    assert paris.next_after(at("2026-01-02T08:30:00+00:00")) == at("2026-01-05T08:30:00+00:00")
    # summer time: 09:30 in Paris is 07:30 UTC
    assert paris.next_after(at("2026-07-01T00:00:00+00:00")) == at("2026-07-01T07:30:00+00:00")


def test_six_field_cron_has_seconds_first() -> None:
    every_ten = schedule(cron="*/10 * * * * *")
    start = at("2026-01-01T10:00:00+00:00")
    assert every_ten.next_after(start) == start + timedelta(seconds=10)
    assert every_ten.due(start, start + timedelta(seconds=25), grace=timedelta(minutes=1)) == [
        start + timedelta(seconds=10),
        start + timedelta(seconds=20),
    ]


def test_interval_ticks_are_whole_multiples_every_replica_agrees_on() -> None:
    every_second = schedule(interval=1)
    now = at("2026-01-01T10:00:03.400000+00:00")
    assert every_second.due(at("2026-01-01T10:00:00.500000+00:00"), now, grace=timedelta(seconds=5)) == [
        at("2026-01-01T10:00:01+00:00"),
        at("2026-01-01T10:00:02+00:00"),
        at("2026-01-01T10:00:03+00:00"),
    ]
    assert every_second.next_after(now) == at("2026-01-01T10:00:04+00:00")
    daily_paris = schedule(interval=86400, timezone="Europe/Paris")
    assert daily_paris.next_after(at("2026-01-01T12:00:00+00:00")) == at("2026-01-01T23:00:00+00:00")


def test_a_tick_exactly_now_is_due_and_not_due_again() -> None:
    hourly = schedule(cron="0 * * * *")
    tick = at("2026-01-01T10:00:00+00:00")
    assert hourly.due(tick - timedelta(minutes=1), tick) == [tick]
    assert hourly.due(tick, tick + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    ("policy", "expected_hours"),
    [("none", []), ("latest", [9]), ("all", [5, 6, 7, 8, 9])],
)
def test_catch_up_after_downtime(policy: str, expected_hours: list[int]) -> None:
    hourly = schedule(cron="0 * * * *", catch_up=policy)
    last_fired = at("2026-01-01T04:00:00+00:00")
    now = at("2026-01-01T09:30:00+00:00")
    assert hourly.due(last_fired, now) == [at(f"2026-01-01T{h:02d}:00:00+00:00") for h in expected_hours]


def test_catch_up_all_is_capped_to_the_most_recent_ticks() -> None:
    every_minute = schedule(cron="* * * * *", catch_up="all")
    now = at("2026-01-02T00:00:30+00:00")
    due = every_minute.due(now - timedelta(days=1), now, limit=100)
    assert len(due) == 100 and due[-1] == at("2026-01-02T00:00:00+00:00")


def test_on_time_ticks_fire_whatever_the_policy() -> None:
    hourly = schedule(cron="0 * * * *", catch_up="none")
    now = at("2026-01-01T10:00:01+00:00")
    assert hourly.due(at("2026-01-01T06:00:00+00:00"), now) == [at("2026-01-01T10:00:00+00:00")]
