"""A Telegram announcement group gets the weekly star list as a poster, with the text as caption."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.botapi import Call
from bot.services import Services
from handlers.telegram import inbound
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, person_of, texts

pytestmark = pytest.mark.db

GROUP = {"id": -100777, "type": "supergroup", "title": "阳光社区志愿者群"}


async def post_star_list(tg: Telegram, tg_services: Services) -> list[Call]:
    """A community with an announcement group and one volunteer's hours last week; the weekly
    star list posted and delivered: the calls that reached the group."""
    cast = await found_community(tg, ADMIN_ID)
    assert "阳光社区" in texts(await cast.worker.send("/setgroup", chat=GROUP))
    community = (await tg_services.run(tg_services.people.communities, await person_of(tg_services, cast.admin)))[0]
    community_id = await tg_services.run(tg_services.visits.roster.community_named, community)
    categories = {c.name: c.id for c in await tg_services.run(tg_services.hours.categories, community_id)}
    last_week = tg_services.clock.community("Asia/Shanghai").today() - timedelta(days=7)
    await tg_services.run(
        tg_services.hours.record,
        await person_of(tg_services, cast.worker),
        community_id,
        [await person_of(tg_services, cast.volunteer)],
        category_id=categories["探访"],
        service_date=last_week,
        minutes=90,
    )
    await tg_services.run(tg_services.stars.post, tg_services.clock.now(), "week")
    tg.api.clear()
    await tg.deliver()
    return [c for c in tg.api.calls if c.chat_id == str(GROUP["id"])]


async def test_the_group_gets_the_poster_with_the_list_as_caption(tg: Telegram, tg_services: Services) -> None:
    [photo] = await post_star_list(tg, tg_services)
    assert photo.method == "sendPhoto" and "photo" in photo.files
    assert "上周明星榜" in photo.params["caption"] and "王芳" in photo.params["caption"]


async def test_a_list_too_long_for_a_caption_follows_the_poster_as_a_message(
    tg: Telegram, tg_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbound, "CAPTION_LIMIT", 10)
    photo, message = await post_star_list(tg, tg_services)
    assert photo.method == "sendPhoto" and "photo" in photo.files and "caption" not in photo.params
    assert message.method == "sendMessage" and "上周明星榜" in message.text and "王芳" in message.text
