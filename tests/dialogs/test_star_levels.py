"""Star levels (一星 … 五星) through the console chat: /balance shows the level and the hours to the
next; the approval that crosses a threshold congratulates the volunteer and tells the workers,
once per level however often it is retried or raced; a paid service request's hours count; the
thresholds are the community's (/levels); certificates and the star list show the level."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.requests.service import NewRequest
from bot.services import Services
from bot.stars import levels as star_levels
from bot.stars.service import POSTER, post_params
from models import Certificate, Community, JobRun, Notification
from tests.conftest import T0
from tests.shop_helpers import fund
from tests.world import World, table_contents

pytestmark = pytest.mark.db


async def keys_of(services: Services, person_id: int) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(Notification.key).where(Notification.person_id == person_id).order_by(Notification.id)
            )
        )


async def logged(services: Services, world: World, minutes: int, days_ago: int = 1, person: int | None = None) -> int:
    """A pending log of the volunteer's (or `person`'s)."""
    category = next(iter(world.categories.values()))
    log = await services.run(
        services.hours.submit,
        person or world.volunteer,
        world.community_id,
        category_id=category,
        service_date=T0.date() - timedelta(days=days_ago),
        minutes=minutes,
    )
    return log.id


async def test_balance_shows_the_level_and_the_hours_to_the_next(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    text = await volunteer.say("/balance")
    assert "尚未评星" in text and "再服务 100 小时可达一星志愿者" in text
    # 100 hours by the default thresholds: 24 logs of 4 h and one of 4 h more (a day holds 12 h).
    for day in range(25):
        await services.run(services.hours.approve, world.worker, await logged(services, world, 240, days_ago=day + 1))
    text = await volunteer.say("/balance")
    assert "一星志愿者" in text and "★ " in text and "再服务 200 小时可达二星" in text
    english = chat("volunteer2")
    await english.say("/lang en")
    assert "none yet; 100 more hours to 1-star" in await english.say("/balance")


async def test_crossing_a_level_congratulates_once_and_tells_the_workers(
    services: Services, world: World, chat
) -> None:
    worker, volunteer = chat("worker1"), chat("volunteer1")
    assert "✅" in await worker.say("/levels 1 2 3 4 5")  # one hour for 一星: a test need not log 100
    first = await logged(services, world, 45)
    await worker.say(f"/approve H{first}")
    assert "levels.reached" not in await keys_of(services, world.volunteer)  # 0.75 h: not yet
    second = await logged(services, world, 30)
    await worker.say(f"/approve H{second}")
    assert (await keys_of(services, world.volunteer)).count("levels.reached") == 1
    assert "levels.worker_reached" in await keys_of(services, world.worker2)
    assert "levels.worker_reached" in await keys_of(services, world.worker)
    # The congratulation as the volunteer reads it, and as the worker reads the notice.
    notes = await services.run(services.outbox.take, "console", person_id=world.volunteer)
    assert any(n.text.key == "levels.reached" and n.text.params["level"]["zh-CN"] == "一星" for n in notes)
    assert "一星志愿者" in await volunteer.say("/balance")

    # A second press on the same approval, and the same approval retried: nothing more is said.
    before = await table_contents(services, ("notifications", "job_runs"))
    await worker.say(f"/approve H{second}")
    assert await table_contents(services, ("notifications", "job_runs")) == before

    def again(session) -> int | None:
        return star_levels.on_counted(session, services.clock, world.community_id, world.volunteer, 30)

    assert services.db.transaction(again) is None
    assert await table_contents(services, ("notifications", "job_runs")) == before

    # An approval worth two levels at once: both claimed, the higher one is the news.
    big = await logged(services, world, 120, days_ago=2)
    await worker.say(f"/approve H{big}")
    with services.db.read() as session:
        claimed = session.scalars(select(JobRun.period).where(JobRun.job == "star-level")).all()
        params = session.scalars(
            select(Notification.params)
            .where(Notification.person_id == world.volunteer, Notification.key == "levels.reached")
            .order_by(Notification.id)
        ).all()
    assert sorted(claimed) == ["L1", "L2", "L3"] and [p["stars"] for p in params] == ["★", "★★★"]


async def test_two_approvals_racing_over_one_threshold_congratulate_once(services: Services, world: World) -> None:
    await services.run(services.star_levels.set_thresholds, world.worker, world.community_id, "1 2 3 4 5")
    a, b = await logged(services, world, 45), await logged(services, world, 45, days_ago=2)
    await asyncio.gather(
        services.run(services.hours.approve, world.worker, a), services.run(services.hours.approve, world.worker2, b)
    )
    assert (await keys_of(services, world.volunteer)).count("levels.reached") == 1
    assert (await keys_of(services, world.worker)).count("levels.worker_reached") == 1


async def test_a_paid_service_request_counts_as_service(services: Services, world: World) -> None:
    await services.run(services.star_levels.set_thresholds, None, world.community_id, "1 2 3 4 5")
    elder, helper = world.resident, world.volunteer
    await fund(services, world, elder, 50)
    posted = await services.run(
        services.requests.post,
        NewRequest(
            requester_id=elder,
            poster_id=elder,
            community_id=world.community_id,
            category_id=world.categories["助洁"],
            service_date=date(2026, 11, 22),
            slot="morning",
            minutes=90,
            payer="own",
        ),
    )
    await services.run(services.requests.take, helper, posted.request.id)
    await services.run(services.requests.done, helper, posted.request.id, 90)
    await services.run(services.requests.accept, elder, posted.request.id)
    assert "levels.reached" in await keys_of(services, helper)
    assert (await services.run(services.star_levels.standing, helper, world.community_id)).minutes == 90


async def test_thresholds_are_the_communitys_and_checked(services: Services, world: World, chat) -> None:
    worker, volunteer = chat("worker1"), chat("volunteer1")
    shown = await volunteer.say("/levels")
    assert "一星：100 小时" in shown and "五星：1500 小时" in shown
    before = await table_contents(services, ("communities",))
    await volunteer.say("/levels 1 2 3 4 5")
    assert volunteer.keys() == ["error.need_worker"]
    for bad in (
        "/levels 100 300 200 1000 1500",
        "/levels 1 2 3",
        "/levels a b c d e",
        "/levels 0 1 2 3 4",
        "/levels 1 2 3 4 999999",
    ):
        await worker.say(bad)
        assert worker.keys() == ["levels.bad_thresholds"], bad
    assert await table_contents(services, ("communities",)) == before
    await worker.say("/星级 50，150，300，500，800")
    with services.db.read() as session:
        options = session.get(Community, world.community_id).options
        other = session.get(Community, world.other_community_id).options
    assert options["star_levels"] == [50, 150, 300, 500, 800] and "star_levels" not in (other or {})
    assert "一星：50 小时" in await volunteer.say("/levels")
    await worker.say("/levels default")
    assert "一星：100 小时" in await volunteer.say("/levels")


async def test_certificates_and_the_star_list_show_the_level(services: Services, world: World, chat) -> None:
    await services.run(services.star_levels.set_thresholds, None, world.community_id, "1 2 3 4 5")
    for day in (1, 2):
        await services.run(services.hours.approve, world.worker, await logged(services, world, 60, days_ago=day))
    worker = chat("worker1")
    await worker.say("/certificate 志愿者1 all")
    docs = [r.document for r in worker.last.replies if r.document is not None]
    assert len(docs) == 1
    page = re.sub(r"[\s\x00]+", "", PdfReader(io.BytesIO(docs[0].content)).pages[0].extract_text())
    assert "星级二星志愿者" in page
    with services.db.read() as session:
        assert session.scalars(select(Certificate.star_level)).one() == 2
    listed = await chat("volunteer2").say("/top")
    assert "志愿者1 ★★" in listed
    lists = await services.run(services.stars.lists, "week")
    assert lists[world.community_id].stars[0].level == 2
    # The weekly post and the WeChat poster say it too.
    params = post_params(lists[world.community_id])
    assert "志愿者1 ★★" in params["lines"] and params[POSTER]["rows"][0][1] == "志愿者1 ★★"
