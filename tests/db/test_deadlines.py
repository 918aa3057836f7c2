"""Decisions on time: nudges an hour before each deadline and the admins' digest at it, once per
community and deadline even across restarts; workers on leave; the month's on-time figures
against values worked out by hand; /pending's deadlines; /top workers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.kernel.i18n import render
from bot.services import Services
from models import Community, Notification
from tests.dialogs.chat import Chat
from tests.shop_helpers import fund
from tests.world import World, make_world

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def chat_of(services: Services):
    dialogs = Dialogs(services)
    return lambda handle: Chat(dialogs, handle)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH).astimezone(UTC)


async def notes(services: Services, key: str) -> list[tuple[int, str]]:
    """(person, rendered text) of every notification with that key, oldest first."""
    with services.db.read() as session:
        rows = (
            session.execute(
                select(Notification.person_id, Notification.params)
                .where(Notification.key == key)
                .order_by(Notification.id)
            )
        ).all()
    return [(p, render("zh-CN", key, params)) for p, params in rows]


async def log_at(services: Services, clock: FixedClock, w: World, who: int, when: datetime, minutes: int = 60) -> int:
    clock.at = when
    log = await services.run(
        services.hours.submit,
        who,
        w.community_id,
        category_id=w.categories["探访"],
        service_date=when.astimezone(SH).date(),
        minutes=minutes,
    )
    return log.id


async def test_nudge_then_digest_once_each_even_after_a_restart(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    h1 = await log_at(services, clock, w, w.volunteers[0], local(20, 9))
    h2 = await log_at(services, clock, w, w.volunteers[1], local(20, 10))
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米5kg", 50, 5)
    await fund(services, w, w.volunteers[2], 100)
    clock.at = local(20, 10, 30)
    r = (await services.run(services.shop.redeem, w.volunteers[2], w.community_id, item.id, 1)).redemption.id

    assert (
        str(await services.run(services.deadlines.run, local(20, 10, 55)))
        == "deadlines: 0 worker nudges, 0 admin digests"
    )
    summary = await services.run(services.deadlines.run, local(20, 11, 0))
    assert (summary.nudges, summary.digests) == (2, 0)
    nudges = await notes(services, "deadline.nudge")
    assert [p for p, _ in nudges] == [w.worker, w.worker2]
    assert nudges[0][1] == (
        "⏰ 张社工，还有 3 件事项等待您审核，本轮截止时间 12:00。\n"
        f"最早的一件：H{h1}（志愿者1），应于 11-20 12:00 前处理。\n发送 /pending 查看并处理。"
    )
    # Every five minutes, and after a restart (a new process on the same database): nothing again.
    assert (await services.run(services.deadlines.run, local(20, 11, 5))).nudges == 0
    restarted = Services(services.db, services.settings, FixedClock(local(20, 11, 10)))
    assert (await restarted.run(restarted.deadlines.run)).nudges == 0
    assert len(await notes(services, "deadline.nudge")) == 2

    clock.at = local(20, 11, 30)
    await services.run(services.hours.approve, w.worker, h1)
    summary = await restarted.run(restarted.deadlines.run, local(20, 12, 0))
    assert (summary.nudges, summary.digests) == (0, 1)
    [(admin, digest)] = await notes(services, "deadline.digest")
    assert admin == w.admin
    assert digest == (
        "📋 幸福社区：截止 11-20 12:00 仍有 2 件事项未处理：\n"
        f"H{h2} · 志愿者2 · 应于 11-20 12:00 前 · 刚到期\n"
        f"R{r} · 志愿者3 · 应于 11-20 12:00 前 · 刚到期"
    )
    for at in (local(20, 12, 5), local(20, 19, 0)):
        assert (await services.run(services.deadlines.run, at)).digests == 0
    assert len(await notes(services, "deadline.digest")) == 1
    # The evening round: a nudge at 20:00 (what is still waiting), a digest at 21:00.
    assert (await services.run(services.deadlines.run, local(20, 20, 0))).nudges == 2
    summary = await services.run(services.deadlines.run, local(20, 21, 0))
    assert summary.digests == 1
    assert "已逾期 9 小时" in (await notes(services, "deadline.digest"))[-1][1]


async def test_other_communities_run_on_their_own_clock(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)

    def move(session) -> None:
        (session.get(Community, w.other_community_id)).timezone = "America/New_York"

    await services.db.run(services.db.transaction, move)
    code = await services.run(services.people.create_invite, w.other_worker, w.other_community_id)
    await services.run(services.people.join, w.volunteers[0], code)
    await services.run(
        services.people.register_volunteer, w.volunteers[0], w.other_community_id, "志愿者1", "13800000000"
    )
    ny = ZoneInfo("America/New_York")
    clock.at = datetime(2026, 11, 19, 9, 0, tzinfo=ny).astimezone(UTC)
    await services.run(
        services.hours.submit,
        w.volunteers[0],
        w.other_community_id,
        category_id=(await services.run(services.hours.categories, w.other_community_id))[0].id,
        service_date=date(2026, 11, 19),
        minutes=60,
    )
    # 11:00 in Shanghai is 22:00 the evening before in New York: nobody there is nudged, but
    # New York's 21:00 deadline has passed with the morning's item still waiting.
    summary = await services.run(services.deadlines.run, local(20, 11, 0))
    assert (summary.nudges, summary.digests) == (0, 1)
    assert "截止 11-19 21:00" in (await notes(services, "deadline.digest"))[0][1]
    # 11:00 in New York.
    summary = await services.run(services.deadlines.run, datetime(2026, 11, 20, 11, 0, tzinfo=ny).astimezone(UTC))
    assert summary.nudges == 1
    assert [p for p, _ in await notes(services, "deadline.nudge")] == [w.other_worker]


async def test_nobody_present_to_decide_means_no_digest(services: Services, clock: FixedClock, chat_of) -> None:
    w = await make_world(services)
    # worker1 logs their own hours: only worker2 could decide them, and worker2 is on leave.
    await log_at(services, clock, w, w.worker, local(20, 9))
    worker2 = chat_of("worker2")
    assert "请假" in await worker2.say("/away")
    assert worker2.keys() == ["away.done"]
    await worker2.say("/away")
    assert worker2.keys() == ["away.already"]
    summary = await services.run(services.deadlines.run, local(20, 11, 0))
    assert summary.nudges == 0  # worker1 cannot decide their own; worker2 is away
    assert (await services.run(services.deadlines.run, local(20, 12, 0))).digests == 0
    # A volunteer's item waits too, and worker1 could decide it: now the digest comes, with
    # that item only.
    h = await log_at(services, clock, w, w.volunteer, local(20, 13))
    assert (await services.run(services.deadlines.run, local(20, 21, 0))).digests == 1
    [(_, digest)] = await notes(services, "deadline.digest")
    assert f"H{h} " in digest and "共" not in digest and digest.count("\n") == 1
    # Everyone on leave: nothing is anybody's lateness.
    assert "请假" in await chat_of("worker1").say("/away")
    assert (await services.run(services.deadlines.run, local(21, 12, 0))).digests == 0
    await worker2.say("/back")
    assert worker2.keys() == ["back.done"]
    assert (await services.run(services.deadlines.run, local(21, 20, 0))).nudges == 1  # worker2, both items


async def test_month_figures_against_hand_computed_values(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    v1, v2, v3 = w.volunteers
    a = await log_at(services, clock, w, v1, local(20, 9))  # due 20th 12:00
    b = await log_at(services, clock, w, v2, local(20, 10))  # due 20th 12:00
    c = await log_at(services, clock, w, v3, local(20, 13))  # due 20th 21:00
    d = await log_at(services, clock, w, v1, local(20, 22))  # due 21st 12:00
    e = await log_at(services, clock, w, v2, local(21, 14))  # due 21st 21:00, never decided
    clock.at = local(20, 11)
    await services.run(services.hours.approve, w.worker, a)  # on time, 120 min
    clock.at = local(20, 12, 30)
    await services.run(services.hours.approve, w.worker, b)  # late, 150 min
    clock.at = local(20, 20)
    await services.run(services.hours.reject, w.worker2, c, "重复")  # on time, 420 min
    clock.at = local(21, 11)
    await services.run(services.hours.approve, w.worker2, d)  # on time, 780 min
    clock.at = local(21, 11, 30)  # recorded by a worker: approved as it is made, never waited
    await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [v3],
        category_id=w.categories["助餐"],
        service_date=date(2026, 11, 21),
        minutes=60,
    )
    clock.at = local(22, 10)

    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    sheet = report.sheet("decisions")
    # worker, decided, on time, share, median hours, overdue
    assert sheet.rows == [("李社工", 2, 2, "100.0%", 10.0, 0), ("张社工", 2, 1, "50.0%", 2.25, 1)]
    assert sheet.totals == ("全社区", 4, 3, "75.0%", 4.75, 2)  # median of 2, 2.5, 7, 13 h
    overdue = report.sheet("overdue")
    assert overdue.rows == [
        (f"H{b}", "志愿者2", "2026-11-20 10:00", "2026-11-20 12:00", "2026-11-20 12:30", "张社工"),
        (f"H{e}", "志愿者2", "2026-11-21 14:00", "2026-11-21 21:00", "尚未处理", ""),
    ]
    assert {a, c, d}.isdisjoint({int(r[0][1:]) for r in overdue.rows})
    english = await services.run(services.reports.build, w.community_id, "2026-11", "en")
    assert english.sheet("decisions").title == "Decisions on time"


async def test_pending_shows_deadlines_and_marks_the_overdue(services: Services, clock: FixedClock, chat_of) -> None:
    w = await make_world(services)
    early = await log_at(services, clock, w, w.volunteers[0], local(20, 9))
    late = await log_at(services, clock, w, w.volunteers[1], local(20, 12, 30))
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "食用油", 30, 5)
    await fund(services, w, w.volunteers[2], 100)
    clock.at = local(20, 21, 30)
    r = (await services.run(services.shop.redeem, w.volunteers[2], w.community_id, item.id, 1)).redemption.id
    clock.at = local(20, 13)
    worker = chat_of("worker1")
    text = await worker.say("/pending")
    assert f"H{early} · 志愿者1" in text
    lines = text.split("\n")
    assert (
        lines[lines.index(next(l for l in lines if l.startswith(f"H{early}"))) + 1]
        == "🔴 已逾期（应于 11-20 12:00 前处理）"
    )
    assert lines[lines.index(next(l for l in lines if l.startswith(f"H{late}"))) + 1] == "⏰ 应于 11-20 21:00 前处理"
    assert lines[lines.index(next(l for l in lines if l.startswith(f"兑换 R{r}"))) + 1] == "⏰ 应于 11-21 12:00 前处理"
    # The evening deadline is the community's to set; /pending follows it.
    assert "20:30" in await worker.say("/deadline 20:30")
    assert worker.keys() == ["deadline.set"]
    assert "应于 11-20 20:30 前处理" in await worker.say("/pending")
    assert "13:00 到 23:00" in await worker.say("/deadline 9:00")
    assert "20:30" in await worker.say("/deadline")
    volunteer = chat_of("volunteer1")
    assert "社区工作者" in await volunteer.say("/deadline 22:00")
    assert (await services.run(services.deadlines.rule, w.community_id)).evening.strftime("%H:%M") == "20:30"


async def test_top_workers_shows_only_the_top_with_ties(services: Services, clock: FixedClock, chat_of) -> None:
    w = await make_world(services, volunteers=3)
    logs = [await log_at(services, clock, w, w.volunteers[i % 3], local(20, 8, 15 * i), 15) for i in range(4)]
    clock.at = local(20, 11)
    await services.run(services.hours.approve, w.worker, logs[0])
    await services.run(services.hours.approve, w.worker2, logs[1])
    clock.at = local(20, 13)  # late: not counted on the thank-you list
    await services.run(services.hours.approve, w.worker2, logs[2])
    clock.at = local(20, 14)
    resident = chat_of("resident1")
    text = await resident.say("/top workers")
    assert text == (
        "🙏 2026-11 按时审核感谢榜（上不过午，下不过夜）\n\n"
        "第 1 名　张社工　按时处理 1 件\n第 1 名　李社工　按时处理 1 件\n\n感谢工作人员的及时处理！"
    )
    # Nobody without an on-time decision appears, and no one's own rank is shown.
    await services.run(services.hours.approve, w.worker, logs[3])  # late too
    assert await resident.say("/top 工作人员") == text
    assert "匿名" not in text
    await chat_of("worker2").say("/privacy on")
    assert "匿名工作人员" in await resident.say("/top workers")
    stranger = chat_of("otherworker")
    assert "没有按时处理" in await stranger.say("/top workers")  # their own community: nothing yet
