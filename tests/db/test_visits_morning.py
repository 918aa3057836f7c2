"""The 08:30 reminders: one message per worker grouped by grid, each volunteer's own list, the
admins' digest of elders overdue by more than a cycle, and never twice for the same day."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from bot import jobs
from bot.kernel.clock import FixedClock
from bot.kernel.i18n import render
from bot.services import Services
from models import Notification
from tests.visits_world import GOOD, roster_world

MORNING = datetime(2026, 11, 21, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
ROWS = (
    *GOOD,  # 王秀英 (worker1; volunteer1, volunteer2), 李建国 (worker2; volunteer3), 张桂兰 (worker1)
    # Nobody's elder, so every worker hears of him; added the day before and not yet visited.
    "赵大爷,1945,幸福里7栋,二网格,否,高,13800000004,,,volunteer1",
    "钱奶奶,1938,幸福里2栋,,是,普通,13800000005,,worker1,",
)


async def inbox(services: Services, person_id: int) -> list[str]:
    return [
        render(d.locale, d.text.key, d.text.params)
        for d in await services.run(services.outbox.take, "console", person_id=person_id)
    ]


async def notifications(services: Services) -> int:
    with services.db.uow() as session:
        return session.scalar(select(func.count()).select_from(Notification))


async def morning_world(services: Services, clock: FixedClock):
    r = await roster_world(services, *ROWS)
    e = r.elders
    # Last contacts before the morning of 2026-11-21 (days before it):
    history = [
        ("王秀英", "visit", 9),  # weekly: 2 days overdue
        ("李建国", "visit", 9),  # 66, alone: call every 7 days, 2 days overdue
        ("张桂兰", "visit", 10),  # monthly: not due
        ("钱奶奶", "visit", 22),  # weekly: 15 days overdue, more than a whole cycle
    ]
    for name, kind, days in history:
        await services.run(
            services.visits.record,
            r.worker,
            e[name],
            kind=kind,
            outcome="well",
            at=MORNING - timedelta(days=days, hours=1),
        )
    await inbox(services, r.worker)  # clear what the set-up sent
    clock.at = MORNING
    return r


async def test_each_worker_and_volunteer_gets_one_message(services: Services, clock: FixedClock) -> None:
    r = await morning_world(services, clock)
    e = r.elders
    # 王秀英's consent is on record, 赵大爷's not: his address is not in a volunteer's list.
    await services.run(services.visits.roster.record_consent, r.worker, e["王秀英"], "当面")
    await inbox(services, r.worker)
    report = await services.run(services.visits.morning)
    assert (report.communities, report.long_overdue) == (2, 1)
    assert await inbox(services, r.worker) == [
        "\n".join(
            (
                "🌅 张社工，早上好！今天（2026-11-21）需要联系的老人共 3 位，其中逾期 3 位：",
                "【一网格】",
                f"E{e['王秀英']} 王秀英（84岁）· 探访 · 逾期 2 天 · 幸福里3栋501 · 志愿者：志愿者1、志愿者2",
                "【二网格】",
                f"E{e['赵大爷']} 赵大爷（81岁）· 探访 · 逾期 1 天 · 幸福里7栋 · 志愿者：志愿者1",
                "【未分网格】",
                f"E{e['钱奶奶']} 钱奶奶（88岁）· 探访 · 逾期 15 天 · 幸福里2栋",
                "发送 /visits 查看并记录。",
            )
        )
    ]
    assert await inbox(services, r.worker2) == [
        "\n".join(
            (
                "🌅 李社工，早上好！今天（2026-11-21）需要联系的老人共 2 位，其中逾期 2 位：",
                "【二网格】",
                f"E{e['李建国']} 李建国（66岁）· 电话 · 逾期 2 天 · 幸福里5栋201 · ☎ 13800000002 · 志愿者：志愿者3",
                f"E{e['赵大爷']} 赵大爷（81岁）· 探访 · 逾期 1 天 · 幸福里7栋 · 志愿者：志愿者1",
                "发送 /visits 查看并记录。",
            )
        )
    ]
    assert await inbox(services, r.volunteers[0]) == [
        "\n".join(
            (
                "🌅 志愿者1，早上好！今天请探访这些老人（共 2 位）：",
                f"E{e['王秀英']} 王秀英（84岁）· 探访 · 逾期 2 天 · 幸福里3栋501",
                f"E{e['赵大爷']} 赵大爷（81岁）· 探访 · 逾期 1 天",
                "探访后发送 /visit 编号 记录，例如 /visit E5。",
            )
        )
    ]
    assert len(await inbox(services, r.volunteers[1])) == 1
    assert await inbox(services, r.volunteers[2]) == []  # 李建国 needs a call, which is the worker's
    assert await inbox(services, r.other_worker) == ["🌅 王社工，早上好！今天（2026-11-21）没有到期的探访和电话。"]
    assert await inbox(services, r.admin) == [
        "\n".join(
            (
                "⚠️ 超过一个完整周期没有联系上的老人（2026-11-21，共 1 位）：",
                "【幸福社区】",
                f"E{e['钱奶奶']} 钱奶奶（88岁）· 探访 · 逾期 15 天（应每 7 天一次）",
            )
        )
    ]


async def test_the_job_sends_once_a_day_however_often_it_runs(services: Services, clock: FixedClock) -> None:
    r = await morning_world(services, clock)
    job = jobs.load()["reminders"]
    assert job.at == time(8, 30)
    assert (
        await job.run(services, clock.now(), {})
        == "reminders: 2 communities, 6 messages, 1 elders overdue by more than a cycle"
    )
    sent = await notifications(services)
    clock.advance(minutes=10)  # a restart, or `lovebank jobs run reminders` by hand
    assert (
        await job.run(services, clock.now(), {})
        == "reminders: 0 communities, 0 messages, 1 elders overdue by more than a cycle"
    )
    assert await notifications(services) == sent
    clock.advance(days=1)
    assert (await services.run(services.visits.morning)).communities == 2
    assert len(await inbox(services, r.worker)) == 2  # today's and tomorrow's


async def test_two_processes_at_once_send_once(services: Services, clock: FixedClock) -> None:
    r = await morning_world(services, clock)
    first, second = await asyncio.gather(services.run(services.visits.morning), services.run(services.visits.morning))
    assert first.communities + second.communities == 2
    assert first.messages + second.messages == 6  # 3 workers, 2 volunteers and the admins' digest, once
    assert len(await inbox(services, r.worker)) == 1


async def test_the_morning_message_reaches_the_console(services: Services, clock: FixedClock) -> None:
    from handlers.console import chat

    await morning_world(services, clock)
    await services.run(services.visits.morning)
    out = io.StringIO()
    await chat(services, "worker2", stdin=io.StringIO("/cancel\n"), stdout=out)
    assert out.getvalue().startswith("🔔 🌅 李社工，早上好！今天（2026-11-21）需要联系的老人共 2 位")


async def test_the_alert_escalation_job(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services)
    await services.run(services.visits.record, r.volunteer, r.elders["王秀英"], kind="visit", outcome="needs_help")
    job = jobs.load()["alert-escalation"]
    assert job.every == timedelta(minutes=5)
    assert await job.run(services, clock.now(), {}) == "alert-escalation: 0 alerts escalated"
    clock.advance(hours=2, minutes=5)
    assert await job.run(services, clock.now(), {}) == "alert-escalation: 1 alerts escalated"
