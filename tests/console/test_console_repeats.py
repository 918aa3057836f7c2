"""The same entry twice (issue: smaller things): a worker's /record and a leader's /teamlog ask
before recording an identical entry again, as /log does for a volunteer's own."""

from __future__ import annotations

import io
import re

from bot import demo
from bot.services import Services
from handlers.console import chat


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def logs_now(services: Services, handle: str) -> list[str]:
    return re.findall(r"H\d+", await say(services, handle, "/mylogs"))


async def test_record_twice_asks_first(services: Services) -> None:
    await demo.seed(services)
    first = re.search(r"代录 (H\d+)", await say(services, "worker1", "/record 刘洋 3h 助餐 陪老人吃饭"))
    assert first is not None
    before = await logs_now(services, "volunteer2")
    asked = await say(services, "worker1", "/record 刘洋 3h 助餐 又来了")
    assert f"已有一条相同记录 {first.group(1)}，确定再记一条吗？" in asked and "已为" not in asked
    assert await logs_now(services, "volunteer2") == before  # nothing recorded until confirmed
    # Refusing records nothing; confirming records it.
    assert "已为" not in await say(services, "worker1", "/record 刘洋 3h 助餐", "2")
    assert await logs_now(services, "volunteer2") == before
    again = await say(services, "worker1", "/record 刘洋 3h 助餐", "1")
    assert "已为 刘洋 代录" in again
    assert len(await logs_now(services, "volunteer2")) == len(before) + 1
    # A different entry (another duration) does not ask.
    other = await say(services, "worker1", "/record 刘洋 1h 助餐")
    assert "已为 刘洋 代录" in other and "相同记录" not in other


async def test_teamlog_twice_asks_first(services: Services) -> None:
    await demo.seed(services)
    logged = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 治安巡逻 全部")
    assert "已为“党员先锋队”的 3 名队员记录 1 小时" in logged
    pending = await say(services, "worker1", "/pending 9")
    asked = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 治安巡逻 全部")
    assert "已有一条相同记录 H" in asked and "确定再记一条吗？" in asked and "已为" not in asked
    assert await say(services, "worker1", "/pending 9") == pending
    confirmed = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 治安巡逻 全部", "1")
    assert "已为“党员先锋队”的 3 名队员记录 1 小时" in confirmed
    # Another category is a different entry.
    other = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 探访 全部")
    assert "已为“党员先锋队”的 3 名队员记录 1 小时" in other and "相同记录" not in other
