"""Date and time nodes: parse, format, add or subtract, difference, start or end of a unit, time zones, now.

Items are JSON, so a point in time travels as ISO 8601 text with its offset (``2026-03-01T09:30:00+01:00``);
a node reading a time also takes epoch seconds (a number). Text without an offset is read in the node's
``timezone`` (UTC by default). Time zones are IANA names, resolved with :mod:`zoneinfo`. Everything here is
deterministic except ``now``.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from flowtape.common.nodes.library.paths import MISSING, FieldPath, field_error, get_path, set_path
from flowtape.common.nodes.library.transforms import FieldNode, FieldParams, expect_number
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = [
    "DATE_NODES",
    "ConvertTimezoneNode",
    "DateAddNode",
    "DateBoundaryNode",
    "DateDiffNode",
    "FormatDateNode",
    "NowNode",
    "ParseDateNode",
]

Unit = Literal["milliseconds", "seconds", "minutes", "hours", "days", "weeks", "months", "quarters", "years"]
_FIXED_UNITS: dict[str, timedelta] = {
    "milliseconds": timedelta(milliseconds=1),
    "seconds": timedelta(seconds=1),
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}
_MONTHS_IN = {"months": 1, "quarters": 3, "years": 12}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'") from exc


def _check_zone(value: str) -> str:
    _zone(value)
    return value


TIMEZONE_DESCRIPTION = "An IANA time zone such as 'Europe/Paris'; times without an offset are read in it."


def parse_time(value: Any, zone: tzinfo, fmt: str = "iso") -> datetime:
    """A timezone-aware datetime from ISO text, epoch seconds/milliseconds or text in a strptime format."""
    if fmt in ("epoch_seconds", "epoch_milliseconds") or (fmt == "iso" and not isinstance(value, str)):
        number = expect_number(value)
        seconds = number / 1000 if fmt == "epoch_milliseconds" else number
        try:
            return _EPOCH + timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"{value!r} is out of the range of dates") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a date as text, got {type(value).__name__}")
    text = value.strip()
    try:
        if fmt == "iso":
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("z", "Z")) else text)
        else:
            parsed = datetime.strptime(text, fmt)
    except ValueError:
        expected = "an ISO 8601 date" if fmt == "iso" else f"a date in the format {fmt!r}"
        raise ValueError(f"expected {expected}, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def iso(moment: datetime) -> str:
    """ISO 8601 with the offset; milliseconds only when there are some."""
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds")
    return moment.isoformat()


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def shift(moment: datetime, amount: float, unit: str) -> datetime:
    """``moment`` moved by ``amount`` units; months, quarters and years by the calendar (31 Jan + 1 month is
    28/29 Feb), wall-clock days in the moment's zone (a day is 23 or 25 hours across a DST change)."""
    if unit in _MONTHS_IN:
        if amount != int(amount):
            raise ValueError(f"{unit} can only be added in whole numbers, got {amount!r}")
        return _add_months(moment, int(amount) * _MONTHS_IN[unit])
    if unit in ("days", "weeks"):
        local = moment.replace(tzinfo=None) + amount * _FIXED_UNITS[unit]
        return local.replace(tzinfo=moment.tzinfo, fold=0)
    return (moment.astimezone(UTC) + amount * _FIXED_UNITS[unit]).astimezone(moment.tzinfo)


class _DateParams(FieldParams):
    timezone: str = Field(default="UTC", description=TIMEZONE_DESCRIPTION)

    _zone_known = field_validator("timezone")(_check_zone)


class ParseDateParams(_DateParams):
    format: str = Field(
        default="iso",
        min_length=1,
        max_length=200,
        description="'iso' (ISO 8601), 'epoch_seconds', 'epoch_milliseconds' or a strptime format such as "
        "'%d/%m/%Y %H:%M'.",
    )


class ParseDateNode(FieldNode[ParseDateParams]):
    type = "parse_date"
    category = "datetime"
    description = "Reads a date in ISO 8601, epoch seconds/milliseconds or a custom format; writes ISO 8601."
    Params = ParseDateParams
    examples = (
        NodeExample(
            title="A European date in Paris time",
            params={"field": "date", "format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
            input=[{"date": "14/07/2026 21:30"}],
            output={"main": [{"date": "2026-07-14T21:30:00+02:00"}]},
        ),
        NodeExample(
            title="Epoch milliseconds",
            params={"field": "ts", "format": "epoch_milliseconds"},
            input=[{"ts": 1767225600000}],
            output={"main": [{"ts": "2026-01-01T00:00:00+00:00"}]},
        ),
    )

    def transform(self, value: Any, params: ParseDateParams) -> Any:
        zone = _zone(params.timezone)
        moment = parse_time(value, zone, params.format)
        return iso(moment if params.format not in ("epoch_seconds", "epoch_milliseconds") else moment.astimezone(zone))


class FormatDateParams(_DateParams):
    format: str = Field(
        default="%Y-%m-%d %H:%M",
        min_length=1,
        max_length=200,
        description="A strftime format (e.g. '%A %d %B %Y'), or 'iso', 'date' (YYYY-MM-DD), 'epoch_seconds', "
        "'epoch_milliseconds'.",
    )


class FormatDateNode(FieldNode[FormatDateParams]):
    type = "format_date"
    category = "datetime"
    description = "Formats a date (ISO text or epoch seconds) as text in a time zone, or as an epoch number."
    Params = FormatDateParams
    examples = (
        NodeExample(
            title="A readable date in New York",
            params={"field": "at", "format": "%a %d %b %Y, %H:%M", "timezone": "America/New_York", "to": "shown"},
            input=[{"at": "2026-03-01T15:00:00Z"}],
            output={"main": [{"at": "2026-03-01T15:00:00Z", "shown": "Sun 01 Mar 2026, 10:00"}]},
        ),
    )

    def transform(self, value: Any, params: FormatDateParams) -> Any:
        zone = _zone(params.timezone)
        moment = parse_time(value, zone).astimezone(zone)
        if params.format == "iso":
            return iso(moment)
        if params.format == "date":
            return moment.date().isoformat()
        if params.format == "epoch_seconds":
            seconds = (moment - _EPOCH).total_seconds()
            return int(seconds) if seconds == int(seconds) else seconds
        if params.format == "epoch_milliseconds":
            return round((moment - _EPOCH).total_seconds() * 1000)
        return moment.strftime(params.format)


class DateAddParams(_DateParams):
    operation: Literal["add", "subtract"] = Field(default="add")
    amount: float = Field(allow_inf_nan=False, description="How many units (an expression may compute it).")
    unit: Unit = Field(default="days")


class DateAddNode(FieldNode[DateAddParams]):
    type = "date_add"
    category = "datetime"
    description = "Adds or subtracts an amount of time; months and years by the calendar, days by the wall clock."
    Params = DateAddParams
    examples = (
        NodeExample(
            title="Due one month after the invoice date",
            params={"field": "invoiced", "amount": 1, "unit": "months", "to": "due"},
            input=[{"invoiced": "2026-01-31T12:00:00+00:00"}],
            output={"main": [{"invoiced": "2026-01-31T12:00:00+00:00", "due": "2026-02-28T12:00:00+00:00"}]},
        ),
    )

    def transform(self, value: Any, params: DateAddParams) -> Any:
        moment = parse_time(value, _zone(params.timezone))
        amount = params.amount if params.operation == "add" else -params.amount
        try:
            return iso(shift(moment, amount, params.unit))
        except OverflowError:
            raise ValueError("the result is out of the range of dates") from None


class DateDiffParams(NodeParams):
    start: FieldPath = Field(description="The field holding the earlier time.")
    end: FieldPath = Field(description="The field holding the later time.")
    unit: Unit = Field(default="days")
    to: FieldPath = Field(default="difference", description="The field to write the difference to.")
    whole: bool = Field(
        default=False, description="Only complete units (rounded towards zero); months and years always are."
    )
    timezone: str = Field(default="UTC", description=TIMEZONE_DESCRIPTION)

    _zone_known = field_validator("timezone")(_check_zone)


def _months_between(start: datetime, end: datetime) -> int:
    if end < start:
        return -_months_between(end, start)
    months = (end.year - start.year) * 12 + end.month - start.month
    if _add_months(start, months) > end:
        months -= 1
    return months


class DateDiffNode(NodeType[DateDiffParams]):
    type = "date_diff"
    category = "datetime"
    description = "Writes the time between two date fields (end - start) in a unit."
    Params = DateDiffParams
    pure = True
    examples = (
        NodeExample(
            title="Days between order and delivery",
            params={"start": "ordered", "end": "delivered", "unit": "days", "to": "days"},
            input=[{"ordered": "2026-05-01T10:00:00Z", "delivered": "2026-05-04T22:00:00Z"}],
            output={"main": [{"ordered": "2026-05-01T10:00:00Z", "delivered": "2026-05-04T22:00:00Z", "days": 3.5}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: DateDiffParams, item: Item) -> NodeResult:
        zone = _zone(params.timezone)
        moments = []
        for path in (params.start, params.end):
            value = get_path(item, path)
            if value is MISSING or value is None:
                raise field_error(path, "is missing")
            try:
                moments.append(parse_time(value, zone))
            except ValueError as exc:
                raise field_error(path, str(exc)) from exc
        start, end = moments
        result: float
        if params.unit in _MONTHS_IN:
            result = int(_months_between(start, end) / _MONTHS_IN[params.unit])
        else:
            result = (end - start) / _FIXED_UNITS[params.unit]
            if params.whole:
                result = int(result)
        if isinstance(result, float) and result == int(result):
            result = int(result)
        return NodeResult.on([set_path(item, params.to, result)])


class DateBoundaryParams(_DateParams):
    edge: Literal["start", "end"] = Field(default="start", description="The first or the last instant of the unit.")
    unit: Literal["minute", "hour", "day", "week", "month", "quarter", "year"] = Field(default="day")
    week_starts_on: Literal["monday", "sunday"] = Field(default="monday")


class DateBoundaryNode(FieldNode[DateBoundaryParams]):
    type = "date_boundary"
    category = "datetime"
    description = "Moves a date to the start or end of its minute, hour, day, week, month, quarter or year."
    Params = DateBoundaryParams
    examples = (
        NodeExample(
            title="The start of the month, in Paris",
            params={"field": "at", "unit": "month", "timezone": "Europe/Paris", "to": "month"},
            input=[{"at": "2026-04-17T08:15:00+00:00"}],
            output={"main": [{"at": "2026-04-17T08:15:00+00:00", "month": "2026-04-01T00:00:00+02:00"}]},
        ),
    )

    def transform(self, value: Any, params: DateBoundaryParams) -> Any:
        zone = _zone(params.timezone)
        moment = parse_time(value, zone).astimezone(zone).replace(tzinfo=None)
        unit = params.unit
        start = moment.replace(second=0, microsecond=0)
        if unit != "minute":
            start = start.replace(minute=0)
        if unit not in ("minute", "hour"):
            start = start.replace(hour=0)
        if unit == "week":
            first = 0 if params.week_starts_on == "monday" else 6
            start -= timedelta(days=(start.weekday() - first) % 7)
        elif unit in ("month", "quarter", "year"):
            month = {"month": start.month, "quarter": (start.month - 1) // 3 * 3 + 1, "year": 1}[unit]
            start = start.replace(month=month, day=1)
        if params.edge == "start":
            return iso(start.replace(tzinfo=zone))
        length = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}.get(unit)
        if length is not None:
            following = start + _FIXED_UNITS[length]
        else:
            following = _add_months(start, {"month": 1, "quarter": 3, "year": 12}[unit])
        return iso((following - timedelta(milliseconds=1)).replace(tzinfo=zone))


class ConvertTimezoneParams(_DateParams):
    to_timezone: str = Field(description="The IANA time zone to express the time in, e.g. 'Asia/Tokyo'.")

    _to_zone_known = field_validator("to_timezone")(_check_zone)


class ConvertTimezoneNode(FieldNode[ConvertTimezoneParams]):
    type = "convert_timezone"
    category = "datetime"
    description = "Expresses a date in another time zone (the same instant, another offset)."
    Params = ConvertTimezoneParams
    examples = (
        NodeExample(
            title="UTC to Tokyo",
            params={"field": "at", "to_timezone": "Asia/Tokyo"},
            input=[{"at": "2026-12-31T20:00:00Z"}],
            output={"main": [{"at": "2027-01-01T05:00:00+09:00"}]},
        ),
    )

    def transform(self, value: Any, params: ConvertTimezoneParams) -> Any:
        return iso(parse_time(value, _zone(params.timezone)).astimezone(_zone(params.to_timezone)))


class NowParams(NodeParams):
    to: FieldPath = Field(default="now", description="The field to write the current time to.")
    timezone: str = Field(default="UTC", description="The IANA time zone to express the time in.")
    format: Literal["iso", "epoch_seconds", "epoch_milliseconds"] = Field(default="iso")

    _zone_known = field_validator("timezone")(_check_zone)


class NowNode(NodeType[NowParams]):
    """The one clock read of the library: its output is recorded, so a replay shows the time the run used."""

    type = "now"
    category = "datetime"
    description = "Writes the current time onto every item (one reading for all items of the run of the node)."
    Params = NowParams
    mode = "batch"
    pure = True
    deterministic = False
    examples = (
        NodeExample(
            title="Stamp items with the time (the value differs on every run)",
            params={"to": "received_at"},
            input=[{"id": 1}],
            output={"main": [{"id": 1, "received_at": "2026-06-01T12:00:00.123+00:00"}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: NowParams, items: list[Item]) -> NodeResult:
        moment = datetime.now(UTC).astimezone(_zone(params.timezone))
        value: Any = iso(moment)
        if params.format == "epoch_seconds":
            value = (moment - _EPOCH).total_seconds()
        elif params.format == "epoch_milliseconds":
            value = round((moment - _EPOCH).total_seconds() * 1000)
        return NodeResult.on([set_path(item, params.to, value) for item in items])


DATE_NODES: tuple[type[NodeType[Any]], ...] = (
    ParseDateNode,
    FormatDateNode,
    DateAddNode,
    DateDiffNode,
    DateBoundaryNode,
    ConvertTimezoneNode,
    NowNode,
)
