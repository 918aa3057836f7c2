"""Pure pieces of the star list and the report: ranking, periods, weeks of a month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.kernel.clock import Month
from bot.kernel.errors import InvalidInput
from bot.reports.service import month_weeks
from bot.stars.service import competition_ranks, period_of, previous_period


def test_competition_ranking() -> None:
    assert competition_ranks([(7, 60), (3, 120), (5, 120), (9, 30), (4, 60)]) == [
        (1, 3, 120),
        (1, 5, 120),
        (3, 4, 60),
        (3, 7, 60),
        (5, 9, 30),
    ]
    assert competition_ranks([]) == []


@given(st.dictionaries(st.integers(1, 50), st.integers(15, 2000), max_size=30))
def test_a_rank_is_one_more_than_the_people_ahead(totals: dict[int, int]) -> None:
    ranked = competition_ranks(totals.items())
    assert sorted(p for _, p, _ in ranked) == sorted(totals)
    for rank, _, minutes in ranked:
        assert rank == 1 + sum(1 for m in totals.values() if m > minutes)


def test_periods() -> None:
    friday = date(2026, 11, 20)
    assert (period_of("week", friday).start, period_of("week", friday).end) == (date(2026, 11, 16), date(2026, 11, 22))
    assert period_of("week", date(2026, 11, 16)).start == date(2026, 11, 16)  # Monday opens its week
    assert period_of("week", date(2026, 11, 22)).start == date(2026, 11, 16)  # Sunday closes it
    assert (period_of("month", friday).start, period_of("month", friday).end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_of("all", friday).start is None and period_of("all", friday).key == "all"
    monday = date(2026, 11, 23)
    assert previous_period("week", monday).key == "week:2026-W47"
    assert previous_period("week", monday).start == date(2026, 11, 16)
    assert previous_period("month", date(2026, 12, 1)).key == "month:2026-11"
    assert previous_period("month", date(2027, 1, 1)).start == date(2026, 12, 1)
    assert previous_period("week", date(2027, 1, 4)).key == "week:2026-W53"  # ISO year, not calendar year
    with pytest.raises(InvalidInput):
        period_of("year", friday)


def test_report_month_bounds_are_local_midnights() -> None:
    november = Month(2026, 11, "Asia/Shanghai")
    assert november.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert november.end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert (november.first, november.last, november.label) == (date(2026, 11, 1), date(2026, 11, 30), "2026-11")
    assert month_weeks(november)[0] == (date(2026, 11, 1), date(2026, 11, 1))  # a Sunday
    assert month_weeks(november)[1] == (date(2026, 11, 2), date(2026, 11, 8))
    assert month_weeks(november)[-1] == (date(2026, 11, 30), date(2026, 11, 30))
    assert sum((end - start).days + 1 for start, end in month_weeks(Month(2027, 2))) == 28
