"""When a schedule ticks: pure functions of the schedule and the instants they are asked about.

Every replica computes the same ticks from the same registration (cron ticks from croniter in the
schedule's time zone; interval ticks at whole multiples of the interval from a fixed origin), so a tick's
instant is a fire key every replica agrees on. Nothing here reads the clock: ``now`` always comes in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from flowtape.common.nodes.builtin import ScheduleParams

#: a tick at most this late is on time; an older one was missed, and the catch-up policy decides
GRACE = timedelta(seconds=2)
#: ``catch_up: all`` runs at most this many missed ticks (the most recent ones)
CATCH_UP_LIMIT = 100
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class Schedule:
    cron: str | None
    interval: float | None
    timezone: str
    catch_up: str

    @classmethod
    def of(cls, params: ScheduleParams) -> Schedule:
        return cls(cron=params.cron, interval=params.interval, timezone=params.timezone, catch_up=params.catch_up)

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _cron(self, start: datetime) -> croniter:
        assert self.cron is not None
        six = len(self.cron.split()) == 6
        return croniter(self.cron, start.astimezone(self._zone), second_at_beginning=six)

    def _interval_us(self) -> int:
        assert self.interval is not None
        return max(1, round(self.interval * 1_000_000))

    def _origin(self) -> datetime:
        # local midnight of 2000-01-01: a daily interval ticks at midnight (standard time) of the zone
        return datetime(2000, 1, 1, tzinfo=self._zone).astimezone(UTC)

    def _interval_index(self, at: datetime) -> int:
        elapsed = at - self._origin()
        micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
        return micros // self._interval_us()

    def _interval_tick(self, index: int) -> datetime:
        return self._origin() + timedelta(microseconds=index * self._interval_us())

    def next_after(self, at: datetime) -> datetime:
        """The first tick strictly after ``at`` (UTC)."""
        if self.cron is not None:
            return self._cron(at).get_next(datetime).astimezone(UTC)  # type: ignore[no-any-return]
        return self._interval_tick(self._interval_index(at) + 1)

    def ticks_back(self, now: datetime) -> Iterator[datetime]:
        """Ticks at or before ``now``, latest first (UTC)."""
        if self.cron is not None:
            ticks = self._cron(now + _MICRO)
            while True:
                yield ticks.get_prev(datetime).astimezone(UTC)
        else:
            index = self._interval_index(now)
            while True:
                yield self._interval_tick(index)
                index -= 1

    def due(
        self, after: datetime, now: datetime, *, grace: timedelta = GRACE, limit: int = CATCH_UP_LIMIT
    ) -> list[datetime]:
        """Ticks in ``(after, now]`` to fire now, oldest first.

        On-time ticks (no older than ``grace``) always fire; missed ones as the catch-up policy says:
        ``none`` skips them, ``latest`` fires the most recent one, ``all`` the ``limit`` most recent.
        """
        found: list[datetime] = []
        for tick in self.ticks_back(now):
            if tick <= after or len(found) >= limit:
                break
            found.append(tick)
        on_time = [tick for tick in found if tick > now - grace]
        missed = [tick for tick in found if tick <= now - grace]
        if self.catch_up == "latest":
            on_time += missed[:1]
        elif self.catch_up == "all":
            on_time += missed
        return sorted(on_time)
