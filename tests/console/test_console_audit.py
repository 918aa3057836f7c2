"""The audit trail in the console chat of the demo community (issue 22, item 4): `/audit NAME`
pages ten entries at a time, newest first, with a numbered choice for the next page."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from bot import demo
from bot.services import Services
from handlers.console import chat
from models import AuditEntry


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def test_audit_pages_newest_first_to_the_end(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    wang, worker = world.volunteers[0], world.workers[1]
    start = services.clock.now()

    def adjust_many(session) -> None:
        session.add_all(AuditEntry(
            community_id=world.community_id, actor_id=worker, person_id=wang, action="points.adjust",
            subject_type="person", subject_id=wang, details={"amount": n + 1}, created_at=start + timedelta(minutes=n + 1),
        ) for n in range(23))

    await services.db.run(services.db.transaction, adjust_many)
    first = await say(services, "worker1", "/audit 王芳")
    assert "第 1 页" in first and "1. " in first
    amounts = [int(a) for a in re.findall(r"李明 调整积分（(\d+) 分）", first)]
    assert amounts == list(range(23, 13, -1)), first  # newest first
    assert "下一页（第 2 页）" in first
    # The console numbers the choices: 1 is the next page.
    second = await say(services, "worker1", "/audit 王芳", "1")
    second = second[len(first):]
    assert "第 2 页" in second and re.findall(r"李明 调整积分（(\d+) 分）", second) == [str(n) for n in range(13, 3, -1)]
    assert re.search(r"^11\. ", second, re.MULTILINE), second  # numbered on from page one
    third = (await say(services, "worker1", "/audit 王芳", "1", "1"))
    third = third[third.index("第 3 页"):]
    adjusted = re.findall(r"李明 调整积分（(\d+) 分）", third)
    assert adjusted == ["3", "2", "1"], third
    # Older than the adjustments: the demo's approvals of her hours, and no next page at the end.
    assert "通过服务记录 H" in third and "下一页" not in third and "回到第 1 页" in third


async def test_a_volunteer_is_told_the_trail_is_for_workers(services: Services) -> None:
    await demo.seed(services)
    said = await say(services, "volunteer1", "/audit 王芳")
    assert "社区工作者" in said and "审计记录" not in said
