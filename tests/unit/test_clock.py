"""The community clock: months as people type them, and month bounds that stay local midnights
across a daylight-saving change and the turn of the year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.kernel.clock import FixedClock, Month
from bot.kernel.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11", (2026, 11)),
        (" 2026/3 ", (2026, 3)),
        ("2026年11月", (2026, 11)),
        ("２０２６－０１", (2026, 1)),
        ("2026.12", (2026, 12)),
    ],
)
def test_months_as_people_type_them(text: str, expected: tuple[int, int]) -> None:
    month = Month.parse(text)
    assert (month.year, month.month) == expected


@pytest.mark.parametrize(
    "bad", ["", None, "11", "11-2026", "2026-13", "2026-00", "2026-11-20", "1999-01", "9999-12", "next month"]
)
def test_a_bad_month_is_the_usual_refusal(bad: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        Month.parse(bad)
    assert refused.value.key == "error.bad_month"


def test_bounds_across_a_daylight_saving_change() -> None:
    # New York leaves daylight saving on 1 November 2026: October starts at UTC−4, December at UTC−5.
    november = Month(2026, 11, "America/New_York")
    assert november.start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert november.end == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert (november.end - november.start).total_seconds() == 30 * 86400 + 3600  # one hour longer
    march = Month(2027, 3, "America/New_York")  # and back on 14 March 2027
    assert (march.start, march.end) == (datetime(2027, 3, 1, 5, tzinfo=UTC), datetime(2027, 4, 1, 4, tzinfo=UTC))
    assert (november.first, november.last, november.label) == (date(2026, 11, 1), date(2026, 11, 30), "2026-11")


def test_bounds_across_the_year_end() -> None:
    december = Month(2026, 12, "Asia/Shanghai")
    assert december.start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert december.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert december.last == date(2026, 12, 31)
    january = Month(2027, 1, "Asia/Shanghai")
    assert january.previous() == december and january.previous().start == december.start
    assert january.start == december.end  # months tile: nothing falls between them
    assert january.after(december) and not december.after(january)


def test_a_community_clock_reads_the_day_and_month_in_its_zone() -> None:
    # 20:00 on New Year's Eve in New York is already 9:00 on 1 January in Shanghai.
    clock = FixedClock(datetime(2026, 12, 31, 20, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC))
    new_york, shanghai = clock.community("America/New_York"), clock.community("Asia/Shanghai")
    assert (new_york.today(), shanghai.today()) == (date(2026, 12, 31), date(2027, 1, 1))
    assert new_york.now().hour == 20 and shanghai.now().hour == 9
    assert (new_york.month().label, shanghai.month().label) == ("2026-12", "2027-01")
    assert new_york.month().as_of == clock.now()
    typed = new_york.month("2026年11月")
    assert (typed.label, typed.timezone, typed.start) == (
        "2026-11",
        "America/New_York",
        datetime(2026, 11, 1, 4, tzinfo=UTC),
    )
    assert new_york.midnight(date(2027, 1, 1)) == datetime(2027, 1, 1, 5, tzinfo=UTC)
    assert shanghai.date_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)
