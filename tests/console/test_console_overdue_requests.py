"""A request taken and never marked done no longer holds its points unseen: once its time of day
is over it is a deadline item (上不过午，下不过夜) in the workers' /pending, their nudge and the
admins' digest; every morning its volunteer and its requester are asked to mark it done or report
a problem, until it is marked done, disputed or cancelled. In the console chat of the demo
community (陈静 asked for a bulb to be changed tomorrow morning, 王芳 took it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot import demo
from bot.deadlines.jobs import deadlines as deadlines_job
from bot.kernel.clock import FixedClock
from bot.requests.jobs import request_reminders
from bot.requests.service import RequestView
from bot.services import Services
from tests.console.test_console_deadlines_teams import say


async def pending_pages(services: Services) -> str:
    return "\n".join([await say(services, "worker1", f"/pending {page}") for page in range(1, 6)])


async def taken_request(services: Services) -> tuple[demo.DemoWorld, RequestView]:
    world = await demo.seed(services)
    assert world is not None
    [taken] = [
        v
        for v in await services.run(services.requests.mine, world.volunteers[0], world.community_id)
        if v.status == "taken"
    ]
    return world, taken


async def test_a_taken_request_past_its_time_waits_with_reminders_until_marked_done(
    services: Services, clock: FixedClock
) -> None:
    _, taken = await taken_request(services)
    ref = taken.ref
    assert taken.slot == "morning" and ref not in await pending_pages(services)
    await request_reminders(services, clock.now(), {})
    assert "服务时间已过" not in await say(services, "volunteer1", "/balance")  # its day has not come

    # The next day at 12:30 (Shanghai) its morning is over: due by the evening deadline (21:00).
    clock.at = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)
    pending = await pending_pages(services)
    line = pending[pending.index(f"未标记完成：{ref}") :]
    assert "志愿者 王芳 接了单" in line and "⏰ 应于 11-21 21:00 前处理" in line.split("\n\n")[0]
    # The worker's nudge in the hour before the deadline counts it.
    clock.at = datetime(2026, 11, 21, 12, 10, tzinfo=UTC)  # 20:10
    total = int(re.findall(r"待处理事项共 (\d+) 项", await pending_pages(services))[0])
    await deadlines_job(services, clock.now(), {})
    nudge = await say(services, "worker1", "/balance")
    assert f"还有 {total} 件事项等待您审核" in nudge, nudge
    # Past the deadline: marked overdue, and in the admins' digest.
    clock.at = datetime(2026, 11, 21, 13, 5, tzinfo=UTC)  # 21:05
    pending = await pending_pages(services)
    assert f"未标记完成：{ref}" in pending
    assert "🔴 已逾期（应于 11-21 21:00 前处理）" in pending[pending.index(f"未标记完成：{ref}") :].split("\n\n")[0]
    await deadlines_job(services, clock.now(), {})
    digest = await say(services, "admin", "/balance")
    assert f"{ref} · 王芳 · 应于 11-21 21:00 前" in digest, digest

    # The next morning both sides are asked to close it, in their own words.
    clock.at = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # 08:30
    await request_reminders(services, clock.now(), {})
    taker = await say(services, "volunteer1", "/balance")
    assert f"您接的求助 {ref}" in taker and f"/done {ref} 实际时长" in taker and f"/dispute {ref} 原因" in taker
    requester = await say(services, "volunteer3", "/balance")
    assert f"您的求助 {ref}" in requester and "王芳 还没有标记完成" in requester
    assert f"/dispute {ref} 原因" in requester and f"/cancel_request {ref}" in requester

    # Marked done: no longer waiting for anyone but the requester's confirmation.
    assert ref in await say(services, "volunteer1", f"/done {ref} 1h")
    assert f"未标记完成：{ref}" not in await pending_pages(services)
    clock.at = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    await request_reminders(services, clock.now(), {})
    assert "服务时间已过" not in await say(services, "volunteer1", "/balance")


async def test_either_side_reports_a_problem_once_its_time_is_over_and_a_worker_settles_it(
    services: Services, clock: FixedClock
) -> None:
    world, taken = await taken_request(services)
    ref = taken.ref
    held = (await services.run(services.points.balance, world.volunteers[2], world.community_id)).pending
    early = await say(services, "volunteer3", f"/dispute {ref} 没人来")
    assert "服务时间还没过" in early and f"/cancel_request {ref}" in early
    clock.at = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    assert "交给社区工作者裁定" in await say(services, "volunteer1", f"/dispute {ref} 那天生病了没能去")
    told = await say(services, "volunteer3", "/balance")
    assert f"志愿者 王芳 报告求助 {ref}" in told and "那天生病了没能去" in told
    pending = await pending_pages(services)
    assert f"有异议：{ref}" in pending and "王芳 没有标记完成；异议：那天生病了没能去" in pending
    settled = await say(services, "worker1", f"/settle {ref} void")
    assert ref in settled
    after = (await services.run(services.points.balance, world.volunteers[2], world.community_id)).pending
    assert held - after == taken.held > 0  # the hold is back
    assert ref not in await pending_pages(services)
