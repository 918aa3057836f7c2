"""The star list as a poster for the workers on WeChat: once per community and period, drawn
from the notification's own parameters."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.services import Services
from bot.stars.posters import POSTER, draw
from models import Notification
from tests.world import World


async def test_workers_on_wechat_get_last_weeks_poster_once(
    services: Services, world: World, clock: FixedClock
) -> None:
    # worker1 links a WeChat account; worker2 is on the console only.
    made = await services.run(services.links.new_code, world.worker, "console")
    _, wechat = await services.run(services.people.identify, "wechat", "oWorker1", display_name="微信用户")
    await services.run(services.links.link, wechat.id, made.code)
    last_week = services.clock.community("Asia/Shanghai").today() - timedelta(days=7)
    for volunteer, minutes in zip(world.volunteers, (180, 60, 60), strict=True):
        await services.run(
            services.hours.record,
            world.worker,
            world.community_id,
            [volunteer],
            category_id=world.categories["探访"],
            service_date=last_week,
            minutes=minutes,
        )
    summary = await services.run(services.star_posters.send, clock.now(), "week")
    assert (summary.sent, summary.already) == (1, 0)
    again = await services.run(services.star_posters.send, clock.now(), "week")
    assert (again.sent, again.already) == (0, 1)
    with services.db.read() as session:
        notes = list(session.scalars(select(Notification).where(Notification.key == "stars.poster_week")))
    assert [n.person_id for n in notes] == [world.worker]
    poster = notes[0].params[POSTER]
    assert poster["rows"] == [[1, "志愿者1", "3"], [2, "志愿者2", "1"], [2, "志愿者3", "1"]]
    assert "幸福社区" in poster["title"]
    assert Image.open(io.BytesIO(draw(poster))).format == "PNG"


async def test_one_poster_per_chosen_list_a_team_named_on_it(
    services: Services, world: World, clock: FixedClock
) -> None:
    made = await services.run(services.links.new_code, world.worker, "console")
    _, wechat = await services.run(services.people.identify, "wechat", "oWorker1", display_name="微信用户")
    await services.run(services.links.link, wechat.id, made.code)
    await services.run(services.teams.create_team, world.worker, world.community_id, "助老服务队")
    await services.run(
        services.teams.change_members, world.worker, world.community_id, "助老服务队", [world.volunteers[1]], add=True
    )
    await services.run(services.teams.set_star_lists, world.worker, world.community_id, ["总榜", "助老服务队"])
    last_week = services.clock.community("Asia/Shanghai").today() - timedelta(days=7)
    for volunteer, minutes in zip(world.volunteers, (180, 60, 60), strict=True):
        await services.run(
            services.hours.record,
            world.worker,
            world.community_id,
            [volunteer],
            category_id=world.categories["探访"],
            service_date=last_week,
            minutes=minutes,
        )
    assert (await services.run(services.star_posters.send, clock.now(), "week")).sent == 2
    assert (await services.run(services.star_posters.send, clock.now(), "week")).already == 2
    with services.db.read() as session:
        notes = list(
            session.scalars(
                select(Notification)
                .where(Notification.person_id == world.worker, Notification.key.like("stars.poster%"))
                .order_by(Notification.id)
            )
        )  # PostgreSQL keeps no order without one
    assert [n.key for n in notes] == ["stars.poster_week", "stars.poster_group_week"]
    team = notes[1].params[POSTER]
    assert "助老服务队" in team["title"] and team["rows"] == [[1, "志愿者2", "1"]]
