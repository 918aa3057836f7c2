"""Every kind of item that waits for a worker's decision is in the deadlines' nudge and the admins'
digest (上不过午，下不过夜), not only in /pending: a worker's own family link waiting for another
worker (L), a request a worker asked for a member from the member's points (waiting for a second
worker) and a worker's confirmation of one (`/accept`, waiting for a second worker), beside the
hour logs, redemptions, pool requests and disputes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import FamilyLink, Notification
from tests.dialogs.chat import Chat
from tests.dialogs.test_proxies import _grandpa
from tests.shop_helpers import fund
from tests.world import World


async def test_the_digest_lists_links_and_requests_waiting_for_a_second_worker(
    services: Services,
    world: World,
    chat: Callable[[str], Chat],
    clock: FixedClock,
) -> None:
    worker, worker2, helper = chat("worker1"), chat("worker2"), chat("volunteer1")
    await worker.say("/family link worker1 孙大爷")
    await worker.say("1")
    assert worker.keys() == ["family.link_waiting"]
    with services.db.read() as session:
        link = session.scalar(select(FamilyLink).where(FamilyLink.status == "approval"))
        assert link is not None
    grandpa = await _grandpa(services, world, chat)
    await fund(services, world, grandpa, 100)
    await worker.say("/request_for 李爷爷 助洁 3h 明天 上午 自付")  # Q1: waits for a second worker
    assert worker.keys() == ["request.posted_second"]
    await worker.say("/request_for 李爷爷 助餐 1h 明天 下午 自付")  # Q2: approved, done, confirmed once
    await worker2.say("/approve Q2")
    await helper.say("/take Q2")
    await helper.say("/done Q2 1h")
    await worker2.say("/accept Q2")
    assert worker2.keys() == ["accept.waiting_second"]

    # The hour before the deadline: each worker is reminded of what they may decide, not of
    # their own link, request or confirmation.
    clock.at = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)  # 20:10 in Shanghai
    await services.run(services.deadlines.run)
    with services.db.read() as session:
        nudges = {
            n.person_id: n.params
            for n in session.scalars(select(Notification).where(Notification.key == "deadline.nudge"))
        }
    assert nudges[world.worker]["count"] == 1 and nudges[world.worker]["oldest"] == "Q2"
    assert nudges[world.worker2]["count"] == 2 and nudges[world.worker2]["oldest"] == f"L{link.id}"

    clock.at = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)  # 21:05: the evening deadline passed
    await services.run(services.deadlines.run)
    with services.db.read() as session:
        [digest] = session.scalars(
            select(Notification).where(Notification.person_id == world.admin, Notification.key == "deadline.digest")
        )
    lines = "\n".join(digest.params["lines"])
    assert f"L{link.id} · " in lines and "Q1 · " in lines and "Q2 · " in lines, lines
