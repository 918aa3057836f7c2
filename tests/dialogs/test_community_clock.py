"""Flows read the day in the community's own time zone, as the services that check the dates do,
not in the zone the bot runs in (LOVEBANK_TIMEZONE, Shanghai in the tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import Community, ServiceLog
from tests.world import World

NEW_YORK = ZoneInfo("America/New_York")


async def _move_to_new_york(services: Services, community_id: int) -> None:
    def move(session) -> None:
        session.get(Community, community_id).timezone = "America/New_York"

    await services.db.run(services.db.transaction, move)


def _dates(services: Services, person_id: int) -> list[date]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(ServiceLog.service_date).where(ServiceLog.person_id == person_id).order_by(ServiceLog.id)
            )
        )


async def test_an_evening_log_in_new_york_is_for_the_local_date(
    services: Services,
    clock: FixedClock,
    world: World,
    chat,
) -> None:
    await _move_to_new_york(services, world.community_id)
    # 20:00 on 19 November in New York is already 09:00 on the 20th in Shanghai.
    clock.at = datetime(2026, 11, 19, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)
    volunteer = chat("volunteer1")
    assert "H" in await volunteer.say("/log 2h 1")
    assert volunteer.keys() == ["log.submitted"]
    # "yesterday" is New York's yesterday, and the step-by-step "today" button New York's today.
    await volunteer.say("/log 1h 1 昨天")
    assert volunteer.keys() == ["log.submitted"]
    await volunteer.say("/log")
    await volunteer.press(volunteer.options()[0])
    await volunteer.press("today")
    assert volunteer.keys() == ["log.ask_duration"]
    assert _dates(services, world.volunteers[0]) == [date(2026, 11, 19), date(2026, 11, 18)]
    # Shanghai's date is still New York's tomorrow: refused as in the future, saying which day is today.
    assert "2026-11-19" in await volunteer.say("/log 1h 1 2026-11-20")
    assert volunteer.keys() == ["error.day_in_future"]


async def test_the_same_moment_is_a_day_later_in_a_community_in_shanghai(
    services: Services,
    clock: FixedClock,
    world: World,
    chat,
) -> None:
    await _move_to_new_york(services, world.other_community_id)  # the other community moves, not ours
    clock.at = datetime(2026, 11, 19, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)
    volunteer = chat("volunteer2")
    await volunteer.say("/log 2h 1")
    assert volunteer.keys() == ["log.submitted"]
    assert _dates(services, world.volunteers[1]) == [date(2026, 11, 20)]


async def test_history_dates_are_the_community_s(
    services: Services,
    clock: FixedClock,
    world: World,
    chat,
) -> None:
    await _move_to_new_york(services, world.community_id)
    clock.at = datetime(2026, 11, 19, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)  # the 20th in Shanghai
    await services.run(
        services.points.adjust, world.admin, world.community_id, world.volunteers[0], 5, "thanks", key="ny-adjust"
    )
    volunteer = chat("volunteer1")
    page = await volunteer.say("/history")
    assert "2026-11-19" in page and "2026-11-20" not in page
