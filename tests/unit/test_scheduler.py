"""A new leader catches up: sweeps at once, a timed job only when its time in the current period
has passed (so a start at 02:00 does not send today's 08:30 reminders early)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.jobs import Job
from bot.runtime.scheduler import catch_up, trigger

TZ = ZoneInfo("Asia/Shanghai")


async def nothing(*_: object) -> str:
    return ""


def at(h: int, m: int = 0, **kw: int) -> Job:
    return Job("j", nothing, at=time(h, m), **kw)


def test_catch_up_only_what_was_due_earlier_in_its_period() -> None:
    friday_0900 = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)  # a Friday
    assert catch_up(Job("sweep", nothing, every=timedelta(minutes=5)), friday_0900)
    assert catch_up(at(8, 30), friday_0900)
    assert not catch_up(at(8, 30), friday_0900.replace(hour=2))
    assert catch_up(at(9, 0, weekday=0), friday_0900)  # Monday's post, not yet made this week
    assert not catch_up(at(9, 0, weekday=5), friday_0900)  # Saturday's is still to come
    assert catch_up(at(9, 0, monthday=1), friday_0900)
    assert not catch_up(at(9, 0, monthday=28), friday_0900)


def test_triggers_fire_in_the_operators_time_zone() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
    monday = trigger(at(9, 0, weekday=0), TZ).get_next_fire_time(None, now)
    assert monday == datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
    daily = trigger(at(8, 30), TZ).get_next_fire_time(None, now)
    assert daily == datetime(2026, 11, 28, 8, 30, tzinfo=TZ)
    assert trigger(Job("none", nothing), TZ) is None
