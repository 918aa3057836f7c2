"""The star list: ranks with ties, anonymity, periods at time-zone edges, once-only group posts,
and who may choose the announcement group."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.jobs import load
from bot.kernel.clock import FixedClock
from bot.kernel.errors import NotAllowed
from bot.kernel.i18n import render
from bot.services import Services
from bot.stars.service import TOP
from models import AnnouncementGroup, AuditEntry, JobRun, Notification
from tests.world import World, make_world, person

GROUP = "-100123"


async def served(services: Services, w: World, volunteer: int, minutes: int, day: date, category: str = "探访") -> None:
    """Hours a worker records for a volunteer: approved at once, like an event."""
    await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [volunteer],
        category_id=w.categories[category],
        service_date=day,
        minutes=minutes,
    )


async def say(services: Services, handle: str, text: str, group: str | None = None) -> str:
    dialogs = Dialogs(services)
    turn = await dialogs.handle(
        Caller("console", handle, display_name=handle, handle=handle, group_chat=group), Input(text=text)
    )
    return "\n".join(dialogs.render(turn.locale, turn.replies))


async def group_posts(services: Services) -> list[Notification]:
    with services.db.uow() as session:
        return list(
            session.scalars(select(Notification).where(Notification.chat.is_not(None)).order_by(Notification.id))
        )


# --- ranks ---------------------------------------------------------------------------------------


async def test_ties_share_a_rank_and_the_next_rank_skips(services: Services) -> None:
    w = await make_world(services, volunteers=4)
    v1, v2, v3, v4 = w.volunteers
    today = date(2026, 11, 20)  # a Friday; the week runs Monday 16th to Sunday 22nd
    await served(services, w, v1, 60, today)
    await served(services, w, v2, 120, date(2026, 11, 16))
    await served(services, w, v3, 90, today)
    await served(services, w, v3, 30, date(2026, 11, 17))  # 120 in all: tied with v2
    await served(services, w, v4, 45, today)
    await served(services, w, v4, 60, date(2026, 11, 15))  # the Sunday before: last week
    pending = await services.run(
        services.hours.submit, v1, w.community_id, category_id=w.categories["助餐"], service_date=today, minutes=600
    )
    assert pending.status == "pending"  # not counted until approved

    top = await services.run(services.stars.top, v4, w.community_id, "week")
    assert [(s.rank, s.person_id, s.minutes) for s in top.stars] == [
        (1, v2, 120),
        (1, v3, 120),
        (3, v1, 60),
        (4, v4, 45),
    ]
    assert top.me is not None and (top.me.rank, top.me.minutes) == (4, 45)
    assert top.participants == 4 and top.period.start == date(2026, 11, 16) and top.period.end == date(2026, 11, 22)

    text = await say(services, "volunteer4", "/top")
    assert "第 1 名　志愿者2　2 小时" in text and "第 1 名　志愿者3　2 小时" in text
    assert "第 3 名　志愿者1　1 小时" in text and "您排第 4 名，服务 0.75 小时" in text

    all_time = await services.run(services.stars.top, v4, w.community_id, "all")
    assert [(s.rank, s.person_id, s.minutes) for s in all_time.stars] == [
        (1, v2, 120),
        (1, v3, 120),
        (3, v4, 105),
        (4, v1, 60),
    ]


async def test_top_ten_with_a_tie_at_the_last_place(services: Services) -> None:
    w = await make_world(services, volunteers=13)
    day = date(2026, 11, 19)
    for i, v in enumerate(w.volunteers):
        # 9 people with distinct hours, then 4 tied at the 10th place.
        await served(services, w, v, 15 * (20 - i) if i < 9 else 60, day)
    top = await services.run(services.stars.top, w.resident, w.community_id, "month")
    assert len(top.stars) == 13 and [s.rank for s in top.stars][-4:] == [10, 10, 10, 10]
    assert top.more_tied == 0 and top.me is None and top.participants == 13
    assert all(s.rank <= TOP for s in top.stars)
    text = await say(services, "resident1", "/top month")
    assert "您在这段时间还没有审核通过的服务时长" in text


async def test_an_opted_out_volunteer_is_anonymous_but_still_ranked(services: Services) -> None:
    w = await make_world(services, volunteers=2)
    await served(services, w, w.volunteers[0], 120, date(2026, 11, 18))
    await served(services, w, w.volunteers[1], 60, date(2026, 11, 18))

    assert "已设置：明星榜上您将显示为“匿名志愿者”" in await say(services, "volunteer1", "/privacy on")
    text = await say(services, "volunteer2", "/top")
    assert "第 1 名　匿名志愿者　2 小时" in text and "志愿者1" not in text
    top = await services.run(services.stars.top, w.volunteer, w.community_id)
    assert top.stars[0].name is None and top.me is not None and top.me.rank == 1

    lists = await services.run(services.stars.lists, "week")
    assert lists[w.community_id].stars[0].name is None and lists[w.other_community_id].stars == ()
    assert "志愿者1" in await say(services, "volunteer1", "/privacy off")
    assert (await services.run(services.stars.top, w.volunteer, w.community_id)).stars[0].name == "志愿者1"
    assert await services.run(services.stars.set_hidden, w.volunteer) is True  # a toggle


async def test_only_members_see_a_community_list(services: Services) -> None:
    w = await make_world(services)
    with pytest.raises(NotAllowed):
        await services.run(services.stars.top, w.other_worker, w.community_id)
    stranger = await person(services, "stranger")
    with pytest.raises(NotAllowed):
        await services.run(services.stars.top, stranger, w.community_id)


# --- periods in the community's time zone ------------------------------------------------------------


async def test_this_week_starts_at_monday_midnight_in_shanghai(services: Services, clock: FixedClock) -> None:
    w = await make_world(services, volunteers=2)
    clock.at = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # Sunday 23:30 in Shanghai
    await served(services, w, w.volunteers[0], 60, date(2026, 11, 22))
    clock.at = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Monday 00:30 in Shanghai, still Sunday in UTC
    await served(services, w, w.volunteers[1], 30, date(2026, 11, 23))

    week = await services.run(services.stars.top, w.volunteer, w.community_id, "week")
    assert (week.period.start, week.period.end) == (date(2026, 11, 23), date(2026, 11, 29))
    assert [s.person_id for s in week.stars] == [w.volunteers[1]]
    assert week.me is None  # Sunday's hour belongs to last week
    month = await services.run(services.stars.top, w.volunteer, w.community_id, "month")
    assert [s.person_id for s in month.stars] == [w.volunteers[0], w.volunteers[1]]


async def test_monday_posts_last_week_by_the_communitys_own_date(services: Services, clock: FixedClock) -> None:
    w = await make_world(services, volunteers=2)
    far = await services.run(
        services.people.create_community, "远方社区", actor_id=w.admin, timezone="America/New_York"
    )
    await services.run(services.people.appoint_worker, w.admin, far.id, w.worker2)
    await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", GROUP)
    await services.run(services.stars.set_group, w.worker2, far.id, "telegram", "-100999")

    clock.at = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Monday 00:30 Shanghai; Sunday 11:30 New York
    await served(services, w, w.volunteers[0], 60, date(2026, 11, 22))  # Sunday: last week
    jobs = load()
    assert jobs["star-list"].at is not None
    summary = await jobs["star-list"].run(services, clock.now(), {})
    assert summary == "star-list: posted 1, already posted 0, nothing to post 0"
    [post] = await group_posts(services)
    assert post.chat == f"telegram:{GROUP}" and post.person_id is None and post.key == "stars.post_week"
    assert (
        post.params["_locale"] == "zh-CN"
        and post.params["start"] == "2026-11-16"
        and post.params["end"] == "2026-11-22"
    )
    assert "第 1 名　志愿者1　1 小时" in post.params["lines"]

    deliveries = await services.run(services.outbox.take, "telegram")
    assert [(d.address, d.locale) for d in deliveries] == [(GROUP, "zh-CN")]

    # Tuesday 1 December in Shanghai: November's list; Monday 30 November in New York: last week's,
    # where nobody served.
    clock.at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert (
        await jobs["star-list"].run(services, clock.now(), {})
        == "star-list: posted 1, already posted 0, nothing to post 1"
    )
    with services.db.uow() as session:
        runs = list(session.scalars(select(JobRun.period).order_by(JobRun.id)))
    assert runs == ["week:2026-W47", "month:2026-11"]
    assert [p.key for p in await group_posts(services)] == ["stars.post_week", "stars.post_month"]


async def test_the_first_of_the_month_posts_last_month_in_the_community_language(
    services: Services, clock: FixedClock
) -> None:
    w = await make_world(services, volunteers=1)
    english = await services.run(services.people.create_community, "Sunny Side", actor_id=w.admin, locale="en")
    await services.run(services.people.appoint_worker, w.admin, english.id, w.worker2)
    await served(services, w, w.volunteer, 90, date(2026, 11, 10))
    clock.at = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    code = await services.run(services.people.create_invite, w.worker2, english.id)
    helper = await person(services, "helper", "Helper")
    await services.run(services.people.join, helper, code)
    await services.run(services.people.register_volunteer, helper, english.id, "Helper", "13900000000")
    await services.run(
        services.hours.record,
        w.worker2,
        english.id,
        [helper],
        category_id=(await services.run(services.hours.categories, english.id))[0].id,
        service_date=date(2026, 11, 11),
        minutes=60,
    )
    await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", GROUP)
    await services.run(services.stars.set_group, w.worker2, english.id, "telegram", "-100777")

    clock.at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # Tuesday 1 December 00:30 in Shanghai
    first = await services.run(services.stars.post, clock.now())
    again = await services.run(services.stars.post, clock.now())
    assert (first.posted, again.posted, again.already) == (2, 0, 2)
    posts = await group_posts(services)
    assert [(p.chat, p.key, p.params["_locale"], p.params["month"]) for p in posts] == [
        (f"telegram:{GROUP}", "stars.post_month", "zh-CN", "2026-11"),
        ("telegram:-100777", "stars.post_month", "en", "2026-11"),
    ]
    rendered = next(d for d in await services.run(services.outbox.take, "telegram") if d.address == "-100777")
    text = render(rendered.locale, rendered.text.key, rendered.text.params)
    assert "Stars of 2026-11" in text and "#1  Helper  1 h" in text


# --- once only --------------------------------------------------------------------------------------


async def test_a_period_is_posted_once_across_reruns_and_processes(
    services: Services, database, settings, clock: FixedClock
) -> None:
    w = await make_world(services, volunteers=1)
    await served(services, w, w.volunteer, 60, date(2026, 11, 12))
    await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", GROUP)
    await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", "-100456")  # a second group
    other = Services(database, settings, clock)  # a second process on the same database

    first, second = await asyncio.gather(
        services.run(services.stars.post, clock.now(), "week"), other.run(other.stars.post, clock.now(), "week")
    )
    assert first.posted + second.posted == 2 and first.already + second.already == 2
    rerun = await services.run(services.stars.post, clock.now(), "week")
    assert (rerun.posted, rerun.already) == (0, 2)
    jobs = load()
    assert (
        await jobs["star-list"].run(other, clock.now(), {"period": "week"})
        == "star-list: posted 0, already posted 2, nothing to post 0"
    )
    posts = await group_posts(services)
    assert sorted(p.chat for p in posts) == ["telegram:-100123", "telegram:-100456"]
    assert {p.params["start"] for p in posts} == {"2026-11-09"}  # the week before the clock's

    month = await services.run(services.stars.post, clock.now(), "month")  # October: nobody served
    assert (month.posted, month.empty) == (0, 1)
    assert (await jobs["star-list"].run(other, clock.now(), {"period": "year"})).startswith(
        "star-list: --period must be"
    )
    with services.db.uow() as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 2


# --- the announcement group ------------------------------------------------------------------------------


async def test_only_a_worker_of_the_community_sets_its_group(services: Services) -> None:
    w = await make_world(services)
    for handle in ("resident1", "volunteer1"):
        assert "只有本社区的社区工作者可以这样做" in await say(services, handle, "/setgroup", group=GROUP)
    assert "请先把我拉进社区群" in await say(services, "worker1", "/setgroup")
    assert "本群已设为“幸福社区”的公告群" in await say(services, "worker1", "/setgroup", group=GROUP)
    assert "已经是“幸福社区”的公告群" in await say(services, "worker2", "/setgroup", group=GROUP)

    # A worker of another community can neither take the group over nor unset it.
    assert "本群已经是“幸福社区”的公告群" in await say(services, "otherworker", "/setgroup", group=GROUP)
    assert "只有本社区的社区工作者可以这样做" in await say(services, "otherworker", "/unsetgroup", group=GROUP)
    with pytest.raises(NotAllowed):
        await services.run(services.stars.set_group, w.other_worker, w.community_id, "console", "-100555")
    with pytest.raises(NotAllowed):
        await services.run(services.stars.set_group, w.volunteer, w.community_id, "console", "-100555")
    assert await services.run(services.stars.group_community, "console", GROUP) == w.community_id

    # In the group, /top shows that community's list.
    assert "幸福社区 · 本周明星榜" in await say(services, "worker1", "/top", group=GROUP)
    assert "幸福社区 · 本周明星榜" in await say(services, "volunteer1", "/top", group=GROUP)

    assert "不再是“幸福社区”的公告群" in await say(services, "worker2", "/unsetgroup", group=GROUP)
    assert "还不是任何社区的公告群" in await say(services, "worker2", "/unsetgroup", group=GROUP)
    # An admin may move a group between communities.
    await services.run(services.stars.set_group, w.worker, w.community_id, "console", GROUP)
    moved = await services.run(services.stars.set_group, w.admin, w.other_community_id, "console", GROUP)
    assert (
        moved.changed and await services.run(services.stars.group_community, "console", GROUP) == w.other_community_id
    )

    with services.db.uow() as session:
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("group.%")).order_by(AuditEntry.id))
        )
        assert session.scalar(select(func.count()).select_from(AnnouncementGroup)) == 1
    assert actions == ["group.set", "group.unset", "group.set", "group.set"]
