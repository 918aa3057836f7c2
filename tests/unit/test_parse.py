from datetime import date

import pytest

from bot.dialogs.parse import parse_amount, parse_date, parse_duration, parse_ref
from bot.i18n import hours

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2h", 120), ("1.5h", 90), ("90m", 90), ("90", 90), ("1h30m", 90), ("2小时", 120), ("90分钟", 90),
     ("0.25h", 15), ("1 h 15 m", 75), ("2 hours", 120)],
)
def test_durations_people_type(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "h", "1.33h", "-2h", "2x", "1.5m"])
def test_durations_that_do_not_parse(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-18", date(2026, 11, 18)), ("11-18", date(2026, 11, 18)), ("2026/11/18", date(2026, 11, 18)),
     ("昨天", date(2026, 11, 19)), ("yesterday", date(2026, 11, 19)), ("今天", TODAY), ("前天", date(2026, 11, 18)),
     ("12-30", date(2025, 12, 30)), ("11月18日", date(2026, 11, 18))],
)
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["2026-02-30", "tomorrow", "18", "2026-13-01", ""])
def test_bad_dates(text: str) -> None:
    assert parse_date(text, TODAY) is None


def test_refs_and_amounts() -> None:
    assert parse_ref("H12", "H") == 12 and parse_ref("h12", "H") == 12 and parse_ref("12", "H") == 12
    assert parse_ref("R12", "H") is None and parse_ref("H", "H") is None
    assert parse_amount("50") == 50 and parse_amount("0") is None and parse_amount("-5") is None


def test_hours_read_as_people_say_them() -> None:
    assert [hours(m) for m in (60, 90, 135, 15)] == ["1", "1.5", "2.25", "0.25"]
