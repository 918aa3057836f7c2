"""The deadline rule (上不过午，下不过夜) on its edges, in Shanghai and in another time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.deadlines.service import DeadlineRule, due_label, parse_evening
from bot.kernel.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("submitted", "due"),
    [
        (at(27, 0, 5), at(27, 12)),  # just after midnight: this noon
        (at(27, 11, 59), at(27, 12)),  # the last morning minute
        (at(27, 12, 0), at(27, 21)),  # noon itself is afternoon
        (at(27, 20, 59), at(27, 21)),
        (at(27, 21, 0), at(28, 12)),  # 21:00 itself waits for the next noon
        (at(27, 23, 59), at(28, 12)),
        (at(30, 22, 0), datetime(2026, 12, 1, 12, tzinfo=SH).astimezone(UTC)),  # across a month's end
    ],
)
def test_due_in_shanghai(submitted: datetime, due: datetime) -> None:
    assert DeadlineRule().due(submitted) == due


def test_another_time_zone_uses_its_own_noon() -> None:
    ny = ZoneInfo("America/New_York")
    rule = DeadlineRule("America/New_York")
    # 11:59 in New York is 00:59 the next day in Shanghai: still due by New York's noon.
    submitted = at(27, 11, 59, ny)
    assert submitted == datetime(2026, 11, 27, 16, 59, tzinfo=UTC)
    assert rule.due(submitted) == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert rule.due(at(27, 12, 0, ny)) == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 21:00 EST
    assert rule.due(at(27, 21, 0, ny)) == datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    # The same instant in Shanghai's rule: 00:59 there, due by Shanghai's noon (04:00 UTC).
    assert DeadlineRule().due(submitted) == datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def test_a_community_evening_deadline() -> None:
    rule = DeadlineRule(evening=time(20, 30))
    assert rule.due(at(27, 20, 29)) == at(27, 20, 30)
    assert rule.due(at(27, 20, 30)) == at(28, 12)


@pytest.mark.parametrize(
    ("now", "last", "upcoming"),
    [
        (at(27, 11, 0), at(26, 21), at(27, 12)),
        (at(27, 12, 0), at(27, 12), at(27, 21)),  # a deadline is "passed" from its very minute
        (at(27, 20, 59), at(27, 12), at(27, 21)),
        (at(27, 21, 0), at(27, 21), at(28, 12)),
        (at(27, 3, 0), at(26, 21), at(27, 12)),
    ],
)
def test_deadlines_around(now: datetime, last: datetime, upcoming: datetime) -> None:
    assert DeadlineRule().deadlines_around(now) == (last, upcoming)


def test_pending_label_marks_what_has_passed() -> None:
    rule = DeadlineRule()
    assert due_label(rule, at(27, 9), at(27, 11, 59)) == ("11-27 12:00", False)
    assert due_label(rule, at(27, 9), at(27, 12)) == ("11-27 12:00", False)  # due *by* 12:00
    assert due_label(rule, at(27, 9), at(27, 12) + timedelta(seconds=1)) == ("11-27 12:00", True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("21:00", time(21)), ("20:30", time(20, 30)), ("22点", time(22)), ("13:00", time(13)), ("23:00", time(23))],
)
def test_evening_setting(text: str, expected: time) -> None:
    assert parse_evening(text) == expected


@pytest.mark.parametrize("text", ["12:00", "23:15", "20:10", "8pm", "", "25:00", "21:60"])
def test_evening_setting_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_evening(text)
