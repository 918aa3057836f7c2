"""Service requests through the service: every path (own points, pool, community), withdraw,
cancel, expire, dispute and settle, the caps on what is paid, and who may do what."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.kernel.errors import AlreadyDecided, InsufficientPoints, InvalidInput, NotAllowed
from bot.kernel.i18n import render
from bot.requests.service import NewRequest, waiting_for_workers
from bot.services import Services
from models import AuditEntry, Notification, ServiceLog, ServiceRequest, Transfer
from tests.shop_helpers import account, fund
from tests.world import World, make_world, refused

TODAY = date(2026, 11, 20)  # the test clock's day in Shanghai
WRITES = ("service_requests", "transfers", "accounts", "service_logs", "notifications")


@pytest.fixture
async def w(services: Services) -> World:
    return await make_world(services)


def new(
    w: World,
    who: int,
    *,
    payer: str = "own",
    minutes: int = 120,
    day: date = date(2026, 11, 22),
    category: str = "助洁",
    **more,
) -> NewRequest:
    return NewRequest(
        requester_id=who,
        poster_id=more.pop("poster", who),
        community_id=w.community_id,
        category_id=w.categories[category],
        service_date=day,
        slot="morning",
        minutes=minutes,
        payer=payer,
        **more,
    )


async def transfers_of(services: Services, request_id: int) -> dict[str, tuple[int, str]]:
    """The request's ledger moves by the last part of their key: amount and phase."""
    with services.db.read() as session:
        rows = (
            session.execute(
                select(Transfer.idempotency_key, Transfer.amount, Transfer.phase).where(
                    Transfer.idempotency_key.like(f"request:Q{request_id}:%")
                )
            )
        ).all()
    return {key.rsplit(":", 1)[1]: (amount, phase) for key, amount, phase in rows}


async def log_of(services: Services, request_id: int) -> ServiceLog:
    with services.db.read() as session:
        log_id = session.scalar(select(ServiceRequest.service_log_id).where(ServiceRequest.id == request_id))
        return session.get(ServiceLog, log_id)


async def test_own_points_held_taken_done_accepted_paid_and_logged(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    posted = await services.run(services.requests.post, new(w, elder, address="3栋501"))
    r = posted.request
    assert (r.status, r.held) == ("open", 20)  # 2 h at 10 points an hour
    assert await account(services, w.community_id, elder) == (50, 20)

    board = await services.run(services.requests.board, helper, w.community_id)
    assert [v.id for v in board.requests] == [r.id]
    assert board.requests[0].address is None  # the board never shows addresses

    taken = await services.run(services.requests.take, helper, r.id)
    assert (taken.request.status, taken.request.taker_id, taken.request.address) == ("taken", helper, "3栋501")
    await services.run(services.requests.done, helper, r.id, 90)
    paid = await services.run(services.requests.accept, elder, r.id)
    assert (paid.request.status, paid.request.paid) == ("paid", 15)  # 1.5 h: less than held
    assert await account(services, w.community_id, elder) == (35, 0)  # the rest came back
    assert await account(services, w.community_id, helper) == (15, 0)
    assert await account(services, w.community_id, None, "services") == (0, 0)
    assert await transfers_of(services, r.id) == {
        "hold": (20, "pending"),
        "post": (20, "post"),
        "pay": (15, "posted"),
        "refund": (5, "posted"),
    }
    log = await log_of(services, r.id)
    assert (log.person_id, log.status, log.minutes, log.points, log.category_id) == (
        helper,
        "approved",
        90,
        15,
        w.categories["助洁"],
    )
    again = await services.run(services.requests.accept, elder, r.id)  # a second press pays nothing more
    assert not again.changed
    assert await account(services, w.community_id, helper) == (15, 0)
    # The paid hours and points count in the helper's lifetime totals, once (no issuance earn).
    balance = await services.run(services.points.balance, helper, w.community_id)
    assert (balance.earned_points, balance.earned_minutes) == (15, 90)
    notes = [n.text.key for n in await services.run(services.outbox.take, "console", person_id=elder)]
    assert notes == ["requests.notify.taken", "requests.notify.done"]


async def test_payment_is_capped_at_the_hold_plus_the_agreed_top_up(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 40)
    r = (await services.run(services.requests.post, new(w, elder, minutes=60))).request  # holds 10
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 180)  # worth 30
    paid = await services.run(services.requests.accept, elder, r.id, topup=5)
    assert paid.request.paid == 15
    assert await account(services, w.community_id, elder) == (25, 0)
    assert await account(services, w.community_id, helper) == (15, 0)
    assert (await transfers_of(services, r.id))["topup"] == (5, "posted")
    assert (await log_of(services, r.id)).points == 15


async def test_a_top_up_beyond_the_requesters_points_is_refused_and_writes_nothing(
    services: Services, w: World
) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 10)
    r = (await services.run(services.requests.post, new(w, elder, minutes=60))).request
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 120)
    async with refused(services, InsufficientPoints, "error.insufficient_points", WRITES):
        await services.run(services.requests.accept, elder, r.id, topup=10)
    assert (await services.run(services.requests.accept, elder, r.id)).request.paid == 10


async def test_not_enough_points_to_hold_posts_nothing(services: Services, w: World) -> None:
    await fund(services, w, w.resident, 5)
    async with refused(services, InsufficientPoints, "error.insufficient_points", WRITES):
        await services.run(services.requests.post, new(w, w.resident))


async def test_pool_request_waits_for_a_worker_then_the_pool_pays(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, w.volunteers[2], 100)
    await services.run(services.points.donate, w.volunteers[2], w.community_id, 100, "donate:test")
    r = (await services.run(services.requests.post, new(w, elder, payer="pool"))).request
    assert r.status == "approval"
    assert (await services.run(services.requests.board, helper, w.community_id)).requests == []
    with services.db.read() as session:
        assert [v.id for v in waiting_for_workers(session, w.community_id, services.clock.now())] == [r.id]
    with pytest.raises(NotAllowed):
        await services.run(services.requests.approve_pool, helper, r.id)
    granted = await services.run(services.requests.approve_pool, w.worker, r.id)
    assert granted.request.status == "open"
    assert await account(services, w.community_id, None, "pool") == (100, 20)
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 60)
    with pytest.raises(NotAllowed, match="request_topup_who"):  # the requester cannot top up the pool
        await services.run(services.requests.accept, elder, r.id, topup=5)
    await services.run(services.requests.accept, elder, r.id)
    assert await account(services, w.community_id, None, "pool") == (90, 0)
    assert await account(services, w.community_id, helper) == (10, 0)
    assert await account(services, w.community_id, elder) == (0, 0)


async def test_a_refused_pool_request_closes_without_a_hold(services: Services, w: World) -> None:
    r = (await services.run(services.requests.post, new(w, w.resident, payer="pool"))).request
    out = await services.run(services.requests.refuse_pool, w.worker, r.id, "名额已满")
    assert (out.request.status, out.request.reason) == ("refused", "名额已满")
    assert await transfers_of(services, r.id) == {}
    with pytest.raises(AlreadyDecided):
        await services.run(services.requests.approve_pool, w.worker2, r.id)


async def test_an_empty_pool_cannot_fund_a_request(services: Services, w: World) -> None:
    r = (await services.run(services.requests.post, new(w, w.resident, payer="pool"))).request
    async with refused(services, InsufficientPoints, "error.insufficient_points", WRITES):
        await services.run(services.requests.approve_pool, w.worker, r.id)


async def test_community_request_becomes_a_pending_log_the_worker_approves(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    r = (await services.run(services.requests.post, new(w, elder, payer="community"))).request
    assert (r.status, r.held) == ("open", 0)
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 150)
    out = await services.run(services.requests.accept, elder, r.id)
    assert out.request.status == "confirmed"
    log = await log_of(services, r.id)
    assert (log.status, log.minutes, log.points) == ("pending", 150, 25)
    await services.run(services.hours.approve, w.worker, log.id)
    assert await account(services, w.community_id, helper) == (25, 0)
    assert await account(services, w.community_id, elder) == (0, 0)
    balance = await services.run(services.points.balance, helper, w.community_id)
    assert (balance.earned_points, balance.earned_minutes) == (25, 150)


async def test_withdraw_before_the_day_reopens_and_not_on_the_day(
    services: Services, w: World, clock: FixedClock
) -> None:
    elder, first, second = w.resident, w.volunteers[0], w.volunteers[1]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    await services.run(services.requests.take, first, r.id)
    with pytest.raises(NotAllowed):
        await services.run(services.requests.withdraw, second, r.id)
    out = await services.run(services.requests.withdraw, first, r.id)
    assert (out.request.status, out.request.taker_id) == ("open", None)
    await services.run(services.requests.take, second, r.id)
    clock.advance(days=2)  # the day itself
    with pytest.raises(InvalidInput, match="withdraw_late"):
        await services.run(services.requests.withdraw, second, r.id)


async def test_cancel_voids_the_hold_and_tells_the_taker(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    await services.run(services.requests.take, helper, r.id)
    out = await services.run(services.requests.cancel, elder, r.id)
    assert out.request.status == "cancelled"
    assert await account(services, w.community_id, elder) == (50, 0)
    assert (await transfers_of(services, r.id))["void"] == (20, "void")
    notes = [n.text.key for n in await services.run(services.outbox.take, "console", person_id=helper)]
    assert notes == ["requests.notify.cancelled"]
    assert not (await services.run(services.requests.cancel, elder, r.id)).changed


async def test_untaken_requests_expire_after_their_day_and_release_the_hold(
    services: Services, w: World, clock: FixedClock
) -> None:
    elder = w.resident
    await fund(services, w, elder, 50)
    stays = (await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 25)))).request
    goes = (await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 21)))).request
    taken = (await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 21), minutes=30))).request
    await services.run(services.requests.take, w.volunteers[0], taken.id)
    assert await services.run(services.requests.expire) == 0
    clock.advance(days=2)
    assert await services.run(services.requests.expire) == 1
    assert await services.run(services.requests.expire) == 0  # a second run changes nothing
    assert (await services.run(services.requests.get, elder, goes.id)).status == "expired"
    assert (await services.run(services.requests.get, elder, stays.id)).status == "open"
    assert (await services.run(services.requests.get, elder, taken.id)).status == "taken"
    assert (await transfers_of(services, goes.id))["expire"] == (20, "expire")
    assert await account(services, w.community_id, elder) == (50, 25)


async def test_dispute_goes_to_a_worker_who_settles_up_to_the_hold(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 120)
    await services.run(services.requests.dispute, elder, r.id, "只打扫了一半")
    with pytest.raises(InvalidInput, match="settle_cap"):
        await services.run(services.requests.settle, w.worker, r.id, 21)
    with pytest.raises(NotAllowed):
        await services.run(services.requests.settle, helper, r.id, 10)
    out = await services.run(services.requests.settle, w.worker, r.id, 10)
    assert (out.request.status, out.request.paid) == ("paid", 10)
    with services.db.read() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "service_request.settle"))
    assert (entry.actor_id, entry.subject_id, entry.details["amount"]) == (w.worker, r.id, 10)
    assert await account(services, w.community_id, elder) == (40, 0)
    assert await account(services, w.community_id, helper) == (10, 0)
    assert (await log_of(services, r.id)).points == 10


async def test_a_settled_void_gives_the_hold_back(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 120)
    await services.run(services.requests.dispute, elder, r.id, "没有来")
    out = await services.run(services.requests.settle, w.worker, r.id, None)
    assert out.request.status == "voided"
    assert await account(services, w.community_id, elder) == (50, 0)
    assert await account(services, w.community_id, helper) == (0, 0)


async def test_three_days_without_an_answer_a_worker_decides(services: Services, w: World, clock: FixedClock) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.requests.done, helper, r.id, 120)
    with pytest.raises(InvalidInput, match="settle_early"):
        await services.run(services.requests.settle, w.worker, r.id, 20)
    with services.db.read() as session:
        assert waiting_for_workers(session, w.community_id, clock.now()) == []
    clock.advance(days=3)
    with services.db.read() as session:
        assert [v.id for v in waiting_for_workers(session, w.community_id, clock.now())] == [r.id]
    assert (await services.run(services.requests.settle, w.worker, r.id, 20)).request.paid == 20


async def test_who_may_do_what(services: Services, w: World) -> None:
    elder, helper, other = w.resident, w.volunteers[0], w.volunteers[1]
    await fund(services, w, helper, 50)
    await fund(services, w, elder, 50)
    own = (await services.run(services.requests.post, new(w, helper))).request
    async with refused(services, NotAllowed, "error.request_own", WRITES):
        await services.run(services.requests.take, helper, own.id)  # nobody takes their own request
    r = (await services.run(services.requests.post, new(w, elder))).request
    async with refused(services, NotAllowed, "error.need_volunteer", WRITES):
        await services.run(services.requests.take, elder, own.id)  # residents ask; volunteers take
    await services.run(services.requests.take, helper, r.id)
    async with refused(services, NotAllowed, "error.request_not_yours", WRITES):
        await services.run(services.requests.done, other, r.id, 60)
    await services.run(services.requests.done, helper, r.id, 60)
    async with refused(services, NotAllowed, "error.request_not_requester", WRITES):
        await services.run(services.requests.accept, other, r.id)  # a stranger
    async with refused(services, NotAllowed, "error.request_not_requester", WRITES):
        await services.run(services.requests.accept, w.other_worker, r.id)  # a worker of another community
    async with refused(services, NotAllowed, "error.request_not_requester", WRITES):
        await services.run(services.requests.dispute, w.worker, r.id, "x")  # workers settle; they do not dispute
    async with refused(services, NotAllowed, "error.request_not_requester", WRITES):
        await services.run(services.requests.accept, helper, r.id)  # the taker cannot confirm their own work
    # A worker may confirm for the requester, but her points pay only once a second worker agrees.
    waiting = (await services.run(services.requests.accept, w.worker, r.id)).request
    assert (waiting.status, waiting.paid, waiting.accepted_by_id) == ("done", None, w.worker)
    async with refused(services, NotAllowed, "error.own_proxy_action", WRITES):
        await services.run(services.requests.approve, w.worker, r.id)
    assert (await services.run(services.requests.approve, w.worker2, r.id)).request.paid == 10


async def test_a_worker_who_took_a_request_cannot_confirm_or_settle_it(services: Services, w: World) -> None:
    await fund(services, w, w.resident, 50)
    r = (await services.run(services.requests.post, new(w, w.resident))).request
    await services.run(services.requests.take, w.worker2, r.id)
    await services.run(services.requests.done, w.worker2, r.id, 60)
    async with refused(services, NotAllowed, "error.request_own_work", WRITES):
        await services.run(services.requests.accept, w.worker2, r.id)
    await services.run(services.requests.dispute, w.resident, r.id, "太快了")
    async with refused(services, NotAllowed, "error.request_own_settle", WRITES):
        await services.run(services.requests.settle, w.worker2, r.id, 5)
    assert (await services.run(services.requests.settle, w.worker, r.id, 5)).request.paid == 5


async def test_a_worker_posts_for_a_member_and_both_are_recorded(services: Services, w: World) -> None:
    # A member without a chat of their own (registered by a worker as volunteer3's relative).
    elder = (
        await services.run(services.family.link, w.worker, w.community_id, w.volunteers[2], None, new_name="孙大爷")
    ).relative_id
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder, poster=w.worker))).request
    assert (r.requester_id, r.poster_id, r.status) == (elder, w.worker, "approval")  # a second worker opens it
    async with refused(services, NotAllowed, "error.not_family", WRITES):
        await services.run(services.requests.post, new(w, elder, poster=w.volunteers[0]))
    async with refused(services, NotAllowed, "error.proxy_own_chat", WRITES):  # she asks herself
        await services.run(services.requests.post, new(w, w.resident, poster=w.worker))


async def test_bad_input_is_refused_and_writes_nothing(services: Services, w: World) -> None:
    await fund(services, w, w.resident, 500)
    for bad, key in (
        (new(w, w.resident, minutes=50), "error.minutes_step"),
        (new(w, w.resident, day=date(2026, 11, 19)), "error.request_bad_date"),
        (new(w, w.resident, day=date(2027, 3, 1)), "error.request_bad_date"),
        (new(w, w.resident, payer="bank"), "error.request_bad_payer"),
        (new(w, w.resident, address="x" * 201), "error.request_address_long"),
    ):
        async with refused(services, InvalidInput, key, WRITES):
            await services.run(services.requests.post, bad)


async def test_the_same_request_key_posts_once(services: Services, w: World) -> None:
    await fund(services, w, w.resident, 50)
    first = await services.run(services.requests.post, new(w, w.resident, request_key="console:1"))
    again = await services.run(services.requests.post, new(w, w.resident, request_key="console:1"))
    assert (again.request.id, again.changed) == (first.request.id, False)
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 1
    assert await account(services, w.community_id, w.resident) == (50, 20)


async def test_morning_reminders_for_takers_and_workers_once_a_day(
    services: Services, w: World, clock: FixedClock
) -> None:
    from bot import jobs

    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 100)
    today = (
        await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 22), address="3栋501", note="擦窗"))
    ).request
    await services.run(services.requests.take, helper, today.id)
    untaken = (await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 25), minutes=60))).request
    clock.advance(days=2)  # 2026-11-22, noon; the job runs whenever it is called
    job = jobs.load()["request-reminders"]
    assert await job.run(services, clock.now(), {}) == "request-reminders: 2 communities, 3 messages"
    assert await job.run(services, clock.now(), {}) == "request-reminders: 0 communities, 0 messages"
    [note] = await services.run(services.outbox.take, "console", person_id=helper)
    text = render(note.locale, note.text.key, note.text.params)
    assert text == (
        f"早上好！今天（2026-11-22）您接了 1 个求助：\nQ{today.id} 助洁 · 11-22 上午 · 2 小时 · 居民甲 · "
        "自付 20 分 · 擦窗\n   📍 3栋501"
    )
    [note] = await services.run(services.outbox.take, "console", person_id=w.worker)
    assert note.text.params["count"] == 1 and f"Q{untaken.id}" in note.text.params["lines"]
    assert "3栋501" not in note.text.params["lines"]


async def test_only_pool_requests_are_granted_and_not_by_their_requester(services: Services, w: World) -> None:
    await fund(services, w, w.resident, 50)
    own = (await services.run(services.requests.post, new(w, w.resident))).request
    async with refused(services, InvalidInput, "error.request_not_pool", WRITES):
        await services.run(services.requests.approve_pool, w.worker, own.id)
    mine = (await services.run(services.requests.post, new(w, w.worker, payer="pool"))).request
    async with refused(services, NotAllowed, "error.request_own_settle", WRITES):
        await services.run(
            services.requests.approve_pool, w.worker, mine.id
        )  # a worker does not fund their own request


async def test_the_report_sheet_counts_the_months_requests_and_who_paid(
    services: Services, w: World, clock: FixedClock
) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 100)
    await fund(services, w, w.volunteers[2], 50)
    await services.run(services.points.donate, w.volunteers[2], w.community_id, 50, "donate:report")
    own = (await services.run(services.requests.post, new(w, elder))).request
    pool = (await services.run(services.requests.post, new(w, elder, payer="pool", minutes=60))).request
    community = (
        await services.run(services.requests.post, new(w, elder, payer="community", category="助医", minutes=60))
    ).request
    await services.run(services.requests.post, new(w, elder, day=date(2026, 11, 21), minutes=30))  # nobody takes it
    await services.run(services.requests.approve_pool, w.worker, pool.id)
    for r, minutes in ((own, 90), (pool, 60), (community, 60)):
        await services.run(services.requests.take, helper, r.id)
        await services.run(services.requests.done, helper, r.id, minutes)
        await services.run(services.requests.accept, elder, r.id)
    await services.run(services.hours.approve, w.worker, (await log_of(services, community.id)).id)
    clock.advance(days=2)
    await services.run(services.requests.expire)

    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    sheet = report.sheet("requests")
    assert sheet.title == "积分换服务"
    # category, posted, taken, done, expired, paid by requesters, by the pool, by the community
    assert sheet.rows == [("助医", 1, 1, 1, 0, 0, 0, 10), ("助洁", 3, 2, 2, 1, 15, 10, 0)]
    assert sheet.totals == ("合计", 4, 3, 3, 1, 15, 10, 10)
    october = await services.run(services.reports.build, w.community_id, "2026-10", "en")
    assert "requests" not in {s.key for s in october.sheets}


async def test_the_board_is_for_members_filters_by_category_and_grid_and_pages(services: Services, w: World) -> None:
    from models import Grid

    async def grid(name: str) -> int:
        def work(session) -> int:  # type: ignore[no-untyped-def]
            g = Grid(community_id=w.community_id, name=name)
            session.add(g)
            session.flush()
            return g.id

        return await services.db.run(services.db.transaction, work)

    east, west = await grid("东区"), await grid("西区")
    await fund(services, w, w.resident, 500)
    ids = [
        (
            await services.run(
                services.requests.post,
                new(w, w.resident, minutes=30, category=("助洁", "助餐")[i % 2], grid_id=(east, west)[i // 5]),
            )
        ).request.id
        for i in range(10)
    ]
    viewer = w.volunteers[0]
    first = await services.run(services.requests.board, viewer, w.community_id, page_size=4)
    assert [v.id for v in first.requests] == ids[::-1][:4] and first.has_more
    last = await services.run(services.requests.board, viewer, w.community_id, page=2, page_size=4)
    assert [v.id for v in last.requests] == ids[::-1][8:] and not last.has_more
    cleaning = await services.run(services.requests.board, viewer, w.community_id, filters=("助洁",), page_size=20)
    assert [v.id for v in cleaning.requests] == ids[8::-2]
    both = await services.run(services.requests.board, viewer, w.community_id, filters=("Meals", "西区"), page_size=20)
    assert [v.id for v in both.requests] == [ids[9], ids[7], ids[5]]
    with pytest.raises(InvalidInput, match="bad_filter"):
        await services.run(services.requests.board, viewer, w.community_id, filters=("火星",))
    for stranger in (w.other_worker,):
        with pytest.raises(NotAllowed, match="need_resident"):
            await services.run(services.requests.board, stranger, w.community_id)  # a page of rows, not theirs to see
        with pytest.raises(NotAllowed, match="need_resident"):
            await services.run(services.requests.board, stranger, w.community_id, page=9)  # an empty page says why too
    assert (await services.run(services.requests.board, w.admin, w.community_id)).requests  # admins see every community


async def test_phones_are_shared_only_when_both_agree(services: Services, w: World) -> None:
    elder, helper = w.resident, w.volunteers[0]
    await fund(services, w, elder, 50)
    r = (await services.run(services.requests.post, new(w, elder))).request
    with pytest.raises(InvalidInput, match="request_not_taken"):
        await services.run(services.requests.share_phone, elder, r.id)
    await services.run(services.requests.take, helper, r.id)
    await services.run(services.outbox.take, "console")  # what came before
    assert (await services.run(services.requests.share_phone, helper, r.id))[1] is False
    assert await services.run(services.outbox.take, "console") == []  # one side agreeing shares nothing
    with pytest.raises(NotAllowed, match="request_not_party"):
        await services.run(services.requests.share_phone, w.volunteers[1], r.id)
    assert (await services.run(services.requests.share_phone, elder, r.id))[1] is True
    sent = {n.person_id: n.text.params for n in await services.run(services.outbox.take, "console")}
    assert sent[helper]["phone"] == "—"  # the resident registered no phone
    assert sent[elder]["phone"] == "13800000000" and sent[elder]["name"] == "志愿者1"
    assert (await services.run(services.requests.share_phone, elder, r.id))[1] is False  # again: nothing new is sent


async def test_pool_requests_and_disputes_count_as_decisions_on_time(
    services: Services, w: World, clock: FixedClock
) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    def local(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)

    await fund(services, w, w.volunteers[2], 100)
    await services.run(services.points.donate, w.volunteers[2], w.community_id, 100, "donate:deadlines")
    clock.at = local(20, 9)
    pool = (await services.run(services.requests.post, new(w, w.resident, payer="pool"))).request  # due 20th 12:00
    summary = await services.run(services.deadlines.run, local(20, 11))
    assert summary.nudges == 2
    with services.db.read() as session:
        params = session.scalar(select(Notification.params).where(Notification.key == "deadline.nudge"))
    assert params["oldest"] == f"Q{pool.id}" and params["count"] == 1
    clock.at = local(20, 11, 30)
    await services.run(services.requests.approve_pool, w.worker, pool.id)  # on time
    await services.run(services.requests.take, w.volunteers[0], pool.id)
    await services.run(services.requests.done, w.volunteers[0], pool.id, 120)
    clock.at = local(20, 14)
    await services.run(services.requests.dispute, w.resident, pool.id, "时间不够")  # due 20th 21:00
    clock.at = local(20, 22)
    await services.run(services.requests.settle, w.worker2, pool.id, 15)  # an hour late
    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    # worker, decided, on time, share, median hours, overdue
    assert sorted(report.sheet("decisions").rows) == [
        ("张社工", 1, 1, "100.0%", 2.5, 0),
        ("李社工", 1, 0, "0.0%", 8.0, 1),
    ]
    assert [row[0] for row in report.sheet("overdue").rows] == [f"Q{pool.id}"]
