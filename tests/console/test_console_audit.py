"""The audit trail in the console chat of the demo community (issue 22, item 4): `/audit NAME`
pages ten entries at a time, newest first, with a numbered choice for the next page."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import func, select

from bot import demo
from bot.services import Services
from handlers.console import chat
from models import AuditEntry, Consent


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
        session.add_all(
            AuditEntry(
                community_id=world.community_id,
                actor_id=worker,
                person_id=wang,
                action="points.adjust",
                subject_type="person",
                subject_id=wang,
                details={"amount": n + 1},
                created_at=start + timedelta(minutes=n + 1),
            )
            for n in range(23)
        )

    await services.db.run(services.db.transaction, adjust_many)
    first = await say(services, "worker1", "/audit 王芳")
    assert "第 1 页" in first and "1. " in first
    amounts = [int(a) for a in re.findall(r"李明 调整积分（(\d+) 分）", first)]
    assert amounts == list(range(23, 13, -1)), first  # newest first
    assert "下一页（第 2 页）" in first
    # The console numbers the choices: 1 is the next page.
    second = await say(services, "worker1", "/audit 王芳", "1")
    second = second[len(first) :]
    assert "第 2 页" in second and re.findall(r"李明 调整积分（(\d+) 分）", second) == [
        str(n) for n in range(13, 3, -1)
    ]
    assert re.search(r"^11\. ", second, re.MULTILINE), second  # numbered on from page one
    third = await say(services, "worker1", "/audit 王芳", "1", "1")
    third = third[third.index("第 3 页，") :]
    assert re.findall(r"李明 调整积分（(\d+) 分）", third) == ["3", "2", "1"], third
    # Older than the adjustments: the demo's own entries (her approved hours …), to the last page.
    pages = [third]
    while "下一页" in pages[-1]:  # choice 1 is the next page each time
        assert len(pages) < 10, pages[-1]
        said = await say(services, "worker1", "/audit 王芳", *["1"] * (len(pages) + 2))
        pages.append(said[said.index(f"第 {len(pages) + 3} 页，") :])
    assert "通过服务记录 H" in "".join(pages) and "回到第 1 页" in pages[-1]
    numbers = [int(n) for page in [first, second, *pages] for n in re.findall(r"^(\d+)\. \d{4}-", page, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1))  # every entry once, numbered on across pages


async def test_a_volunteer_is_told_the_trail_is_for_workers(services: Services) -> None:
    await demo.seed(services)
    said = await say(services, "volunteer1", "/audit 王芳")
    assert "社区工作者" in said and "审计记录" not in said


async def test_the_demo_shows_a_members_proxy_actions_and_approvals_of_the_last_month(services: Services) -> None:
    """Issue 22, done when: `/audit` shows the proxy actions and the approvals of the last month
    for a demo member; and the demo has consents, of volunteers and of elders."""
    await demo.seed(services)
    trail = await say(services, "worker1", "/audit 孙大爷")
    lines = [line for line in trail.splitlines() if re.match(r"\d+\. ", line)]
    month_ago = (services.clock.now() - timedelta(days=31)).strftime("%Y-%m-%d %H:%M")
    stamps = [re.match(r"\d+\. (\d{4}-\d\d-\d\d \d\d:\d\d) ", line) for line in lines]
    assert all(s and s.group(1) >= month_ago for s in stamps), trail  # all of the last month
    ids = [int(n) for n in re.findall(r"^(\d+)\. ", trail, re.MULTILINE)]
    assert ids == list(range(1, len(ids) + 1))
    # Proxy actions by 王芳, whom he linked as family, and the workers' decisions, newest first.
    actions = (
        "王芳 代为取消求助 Q",
        "王芳 代为发布求助 Q",
        "张丽 核销发放 R",
        "李明 通过兑换 R",
        "王芳 代为兑换 R",
        "王芳 开始代办",
        "张丽 调整积分",
    )
    for shown in actions:
        assert any(shown in line for line in lines), (shown, trail)
    order = [next(i for i, line in enumerate(lines) if shown in line) for shown in actions]
    assert order == sorted(order), trail
    # An elder's consent, in the elder's trail.
    assert "登记老人同意 E1" in await say(services, "worker1", "/audit E1")
    # A volunteer's trail: the approvals of her hours.
    assert "通过服务记录 H" in await say(services, "worker1", "/audit 王芳")
    # Consents: every volunteer's at registration, every elder's as a worker obtained it.
    with services.db.read() as session:
        kinds = dict(session.execute(select(Consent.kind, func.count()).group_by(Consent.kind)).all())
    assert kinds == {"volunteer": len(demo.VOLUNTEERS), "elder": 12}
    assert "知情同意：当面同意" in await say(services, "worker1", "/elders E1")
