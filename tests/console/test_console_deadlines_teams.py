"""In the console chat of the demo community: /pending with deadlines, a tag the member agrees
to by a numbered answer, a team leader's hours and the tag's and team's star lists."""

from __future__ import annotations

import io

from bot import demo
from bot.services import Services
from handlers.console import chat


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def test_console_journey(services: Services) -> None:
    await demo.seed(services)
    pending = await say(services, "worker1", "/pending")
    assert "应于" in pending and "前处理" in pending

    # The demo's 党员 list: 王芳 and 陈静 agreed; 刘洋 carries the tag but did not.
    party = await say(services, "resident1", "/top 党员 all")
    assert "王芳" in party and "陈静" in party and "刘洋" not in party

    assert "已给 赵敏 加上“党员”标签" in await say(services, "worker1", "/tag volunteer5 党员")
    shown = await say(services, "volunteer5", "/tags", "2")
    assert shown.startswith("🔔") and "/privacy 党员 显示" in shown  # told of the tag on the next visit
    assert "2. 上“党员”榜" in shown and "会出现在“党员”明星榜上" in shown
    assert "赵敏" in await say(services, "resident1", "/top 党员 all")

    logged = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 治安巡逻 全部")
    assert "已为“党员先锋队”的 3 名队员记录 1 小时" in logged
    assert "治安巡逻" in await say(services, "worker1", "/pending 4")  # newest on the last page
    team = await say(services, "resident1", "/top 党员先锋队 all")
    assert "王芳" in team and "刘洋" in team and "杨帆" in team and "陈静" not in team
