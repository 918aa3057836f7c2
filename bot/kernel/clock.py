"""Time source, and each community's calendar. Services take a clock so tests can walk a
simulated calendar; anything that asks "what day is it" or "which instants make up this month"
asks a community's clock (`clock.community(timezone)`), so flows, services and reports agree
on the day whatever zone the process itself runs in."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.kernel.errors import InvalidInput

_FULL_WIDTH_DIGITS = {0xFF10 + i: 0x30 + i for i in range(10)} | {0xFF0D: 0x2D, 0xFF0F: 0x2F, 0xFF0E: 0x2E}
_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?", re.ASCII)


@dataclass(frozen=True)
class Month:
    """A calendar month in a community's time zone: [start, end) in UTC, first..last as dates."""

    year: int
    month: int
    timezone: str = "Asia/Shanghai"
    # When the month is looked at: what has not yet happened this month is not yet late.
    as_of: datetime | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str | None, timezone: str = "Asia/Shanghai", as_of: datetime | None = None) -> Month:
        """'2026-11', '2026/11', '2026年11月' (full-width digits too). Years 2000–2999: a month
        must have a next month for its bounds, and nothing in a love bank is older than 2000."""
        match = _MONTH.fullmatch((text or "").translate(_FULL_WIDTH_DIGITS).strip())
        if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
            raise InvalidInput("error.bad_month")
        return cls(int(match[1]), int(match[2]), timezone, as_of)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def start(self) -> datetime:
        """The month's first local midnight, in UTC (moments are stored in UTC)."""
        return _midnight(self.first, self.timezone)

    @property
    def end(self) -> datetime:
        """The next month's first local midnight, in UTC: the month is [start, end)."""
        return _midnight(self.last + timedelta(days=1), self.timezone)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def previous(self) -> Month:
        before = self.first - timedelta(days=1)
        return Month(before.year, before.month, self.timezone, self.as_of)

    def after(self, other: Month) -> bool:
        return (self.year, self.month) > (other.year, other.month)


def _midnight(day: date, timezone: str) -> datetime:
    return day_start(day, timezone)


# --- the calendar's arithmetic: every part asks these rather than computing dates itself -------


@lru_cache(maxsize=256)
def zone(timezone: str) -> ZoneInfo:
    """A time zone by its IANA name (a community's `timezone`), loaded once."""
    return ZoneInfo(timezone)


def _tz(timezone: str | tzinfo) -> tzinfo:
    return zone(timezone) if isinstance(timezone, str) else timezone


def wall_now(timezone: str | tzinfo) -> datetime:
    """The machine's own clock in a zone (the scheduler, which runs on real time, not a test's)."""
    return datetime.now(UTC).astimezone(_tz(timezone))


def in_zone(moment: datetime, timezone: str | tzinfo) -> datetime:
    """An instant as the zone's wall clock shows it (aware)."""
    return moment.astimezone(_tz(timezone))


def local_date(moment: datetime, timezone: str | tzinfo) -> date:
    """The zone's date at an instant."""
    return moment.astimezone(_tz(timezone)).date()


def at_local(day: date, at: time, timezone: str | tzinfo) -> datetime:
    """The instant, in UTC, when the zone's clock shows `at` on `day`."""
    return datetime.combine(day, at, _tz(timezone)).astimezone(UTC)


def day_start(day: date, timezone: str | tzinfo) -> datetime:
    """The day's first local moment, in UTC."""
    return at_local(day, time(), timezone)


def days_after(day: date, days: int) -> date:
    """The date `days` days after `day` (before it when negative)."""
    return day + timedelta(days=days)


def week_start(day: date) -> date:
    """The Monday of the day's week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


def week_end(day: date) -> date:
    """The Sunday of the day's week."""
    return week_start(day) + timedelta(days=6)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` months after the day's month (before it when negative)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_before(day: date) -> date:
    """The first day of the month before the day's month."""
    return month_start(month_start(day) - timedelta(days=1))


def same_week(moment: datetime, weekday: int) -> datetime:
    """The same time of day on `weekday` (Monday 0) of the moment's week."""
    return moment - timedelta(days=moment.weekday() - weekday)


class CommunityClock:
    """One community's calendar on a clock."""

    def __init__(self, clock: Clock, timezone: str) -> None:
        self.clock, self.timezone, self.zone = clock, timezone, zone(timezone)

    def now(self) -> datetime:
        """Now, as the community's wall clock shows it (aware)."""
        return self.clock.now().astimezone(self.zone)

    def today(self) -> date:
        return self.now().date()

    def date_of(self, moment: datetime) -> date:
        """The community's date at an instant (a job's run time, a stored timestamp)."""
        return local_date(moment, self.zone)

    def midnight(self, day: date) -> datetime:
        """The day's first local moment, in UTC."""
        return _midnight(day, self.timezone)

    def month(self, label: str | None = None) -> Month:
        """This month, or the month a person typed (InvalidInput "error.bad_month" if it is not one)."""
        now = self.clock.now()
        if label is None:
            today = local_date(now, self.zone)
            return Month(today.year, today.month, self.timezone, now)
        return Month.parse(label, self.timezone, now)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def community(self, timezone: str) -> CommunityClock:
        return CommunityClock(self, timezone)


class FixedClock(Clock):
    """A clock that stands still until moved; for tests and the demo's history."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
