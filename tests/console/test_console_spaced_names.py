"""Real names with a space in them (issue: smaller things) in the commands where a name is
followed by more: the lists of /team, /teamlog and /event, /request_for and /family link."""

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


async def anna(services: Services) -> None:
    """Anna Lee registers in her own chat and is confirmed as a volunteer."""
    await demo.seed(services)
    code = re.search(r"[A-Z2-9]{8}", await say(services, "worker1", "/invite")).group(0)
    assert "登记成功" in await say(services, "anna", f"/start {code}", "Anna Lee", "13912345678")
    assert "已确认 Anna Lee" in await say(services, "worker1", "/confirm Anna Lee")


async def test_team_lists_take_a_name_with_a_space(services: Services) -> None:
    await anna(services)
    assert "新增 1 名" in await say(services, "worker1", "/team 党员先锋队 add Anna Lee")
    logged = await say(services, "volunteer1", "/teamlog 党员先锋队 1h 治安巡逻 anna lee 王芳")
    assert "已为“党员先锋队”的 2 名队员记录 1 小时" in logged
    assert re.search(r"Anna Lee.*治安巡逻", await say(services, "worker1", "/pending 9"))
    # With a date in front of the names, and names separated by a comma.
    dated = await say(services, "volunteer1", "/teamlog 党员先锋队 2h 治安巡逻 昨天 王芳，Anna Lee")
    assert "已为“党员先锋队”的 2 名队员记录 2 小时" in dated
    assert "用法" in await say(services, "volunteer1", "/teamlog 党员先锋队 2h 治安巡逻 昨天")


async def test_event_volunteers_take_a_name_with_a_space(services: Services) -> None:
    await anna(services)
    asked = await say(services, "worker1", "/event", "1", "1", "1h", "Anna Lee 王芳")
    assert "为 2 位志愿者" in asked and "Anna Lee、王芳" in asked
    done = await say(services, "worker1", "/event", "1", "1", "1h", "Anna Lee，王芳", "1")
    assert "已为 2 位志愿者记录活动时长" in done
    assert "Anna Lee" in await say(services, "anna", "/mylogs")


async def test_family_link_and_request_for_take_a_name_with_a_space(services: Services) -> None:
    await anna(services)
    # The relative's name is the rest of the line: a new resident without a chat, registered.
    asked = await say(services, "worker1", "/family link 王芳 Bob Chan")
    assert "Bob Chan" in asked and "1." in asked
    assert "Bob Chan" in await say(services, "worker1", "/family link 王芳 Bob Chan", "1")
    # The member's name with a space, then the relative's.
    linked = await say(services, "worker1", "/family link Anna Lee Bob Chan")
    assert "Anna Lee" in linked and "Bob Chan" in linked and "用法" not in linked
    posted = await say(services, "worker1", "/request_for Bob Chan 助洁 2h 明天 社区")
    assert "已发布" in posted, posted
    assert "用法：/request_for" in await say(services, "worker1", "/request_for Bob Chan")
