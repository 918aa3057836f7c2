"""Notices that wait for a console visit (issue: smaller things): one asking workers to decide a
dispute is not shown once another worker has decided it."""

from __future__ import annotations

import io
import re

from bot import demo
from bot.kernel.clock import FixedClock
from bot.services import Services
from handlers.console import chat


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def dispute(services: Services, clock: FixedClock) -> str:
    """The demo's taken request (换个灯泡, volunteer3's, taken by volunteer1) done and disputed,
    past the minute in which the seed's notices about requests hold a new one back."""
    await demo.seed(services)
    clock.advance(minutes=5)
    ref = re.search(r"Q\d+", await say(services, "volunteer3", "/myrequests")).group(0)
    await say(services, "volunteer1", f"/done {ref} 1h")
    assert "交给社区工作者" in await say(services, "volunteer3", f"/dispute {ref}", "灯泡没换好")
    return ref


async def test_a_settled_dispute_is_not_a_notice_any_more(services: Services, clock: FixedClock) -> None:
    ref = await dispute(services, clock)
    assert f"已裁定 {ref}" in await say(services, "worker1", f"/settle {ref} 5")
    visit = await say(services, "worker2", "/balance")
    assert f"求助 {ref} 有异议" not in visit
    # Those the decision concerns hear of it.
    assert f"社区工作者已裁定 {ref}" in await say(services, "volunteer1", "/balance")


async def test_an_open_dispute_is_still_a_notice(services: Services, clock: FixedClock) -> None:
    ref = await dispute(services, clock)
    assert f"🔔 求助 {ref} 有异议，需要工作者裁定：灯泡没换好" in await say(services, "worker2", "/balance")
