"""On Telegram: /pending with deadlines, the worker's nudge and the admin's digest from the
scheduled job, leave; a tag the member agrees to by a button, a team whose leader records hours
that a worker approves by a button, and the tag's and team's star lists."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot import jobs
from bot.kernel.clock import FixedClock
from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, log_ids, texts

pytestmark = pytest.mark.db
SH = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH).astimezone(UTC)


async def test_deadlines_nudge_and_digest(tg: Telegram, tg_services: Services, clock: FixedClock) -> None:
    cast = await found_community(tg, ADMIN_ID)
    clock.at = local(20, 12, 30)
    [log_id] = log_ids(await cast.volunteer.send("/log 2h 探访"))
    out = await cast.worker.send("/pending")
    assert f"H{log_id}" in out[0].text and "⏰ 应于 11-20 21:00 前处理" in out[0].text
    assert [b["callback_data"] for b in out[0].buttons] == [f"/approve H{log_id}", f"/reject H{log_id}"]

    run = jobs.load()["deadlines"].run
    clock.at = local(20, 20, 0)
    await run(tg_services, clock.now(), {})
    tg.api.clear()
    await tg.deliver()
    [nudge] = [c for c in tg.api.sent("sendMessage", chat_id=cast.worker.id) if "⏰" in c.text]
    assert "1 件事项等待您审核" in nudge.text and f"H{log_id}（王芳）" in nudge.text and "/pending" in nudge.text

    clock.at = local(20, 21, 0)
    await run(tg_services, clock.now(), {})
    await run(tg_services, local(20, 21, 5), {})  # the next run sends nothing again
    tg.api.clear()
    await tg.deliver()
    digests = [c for c in tg.api.sent("sendMessage", chat_id=cast.admin.id) if "📋" in c.text]
    assert len(digests) == 1 and "截止 11-20 21:00 仍有 1 件事项未处理" in digests[0].text

    # Overdue now, in the worker's /pending; approved by its button, it counts as late.
    clock.at = local(20, 21, 5)
    out = await cast.worker.send("/pending")
    assert "🔴 已逾期（应于 11-20 21:00 前处理）" in out[0].text
    await cast.worker.press(f"/approve H{log_id}")
    assert "还没有按时处理" in texts(await cast.volunteer.send("/top workers"))

    assert "请假" in texts(await cast.worker.send("/away"))
    assert "欢迎回来" in texts(await cast.worker.send("/back"))


async def test_tag_consent_team_leader_and_lists(tg: Telegram, tg_services: Services, clock: FixedClock) -> None:
    cast = await found_community(tg, ADMIN_ID)
    worker, volunteer = cast.worker, cast.volunteer
    [ask] = await worker.send("/tag @wangfang")
    assert [b["text"] for b in ask.buttons] == ["党员", "青年", "以老助老"]
    out = texts(await worker.press("党员"))
    assert "已给 王芳 加上“党员”标签" in out
    tg.api.clear()
    await tg.deliver()
    [told] = tg.api.sent("sendMessage", chat_id=volunteer.id)
    assert "/privacy 党员 显示" in told.text

    await worker.send("/record @wangfang 2h 探访")
    assert "还没有审核通过" in texts(await volunteer.send("/top 党员"))  # not agreed yet
    [mine] = await volunteer.send("/tags")
    assert "党员 · 不在明星榜上显示" in mine.text
    assert "会出现在“党员”明星榜上" in texts(await volunteer.press("/privacy 党员 show"))
    out = await volunteer.send("/top 党员")
    assert "第 1 名　王芳　2 小时" in out[0].text
    assert [b["callback_data"] for b in out[1].buttons] == ["/top 党员 month", "/top 党员 all"]

    assert "已创建" in texts(await worker.send("/team new 党员先锋队"))
    assert "担任" in texts(await worker.send("/team 党员先锋队 leader @wangfang"))
    [log_id] = log_ids(await volunteer.send("/teamlog 党员先锋队 1h 治安巡逻 全部"))
    out = await worker.send("/pending")
    assert f"H{log_id}" in out[0].text and "治安巡逻" in out[0].text
    assert "已通过" in texts(await worker.press(f"/approve H{log_id}"))
    out = await volunteer.send("/top 党员先锋队")
    assert "党员先锋队 · 本周明星榜" in out[0].text and "第 1 名　王芳　3 小时" in out[0].text
