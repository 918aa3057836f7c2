"""The love supermarket through the dialog engine, as a console (or WeChat) user sees it:
browse → redeem → approve → pickup; reject; cancel; expiry; wrong and used codes; workers of
another community; double presses and redelivered requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from bot.jobs import load as load_jobs
from bot.kernel.clock import FixedClock
from bot.kernel.errors import AlreadyDecided, NotAllowed, NotFound
from bot.kernel.names import CODE_ALPHABET
from bot.services import Services
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, count_transfers, fund, notification_keys, redemption, snapshot, stock
from tests.world import World, make_world


@dataclass
class Shop:
    w: World
    chat: Chat
    rice: int  # 大米5kg, 100 points, 3 in stock
    haircut: int  # 理发服务, 30 points, no limit


@pytest.fixture
async def shop(services: Services) -> Shop:
    w = await make_world(services)
    for volunteer in w.volunteers[:2]:
        await fund(services, w, volunteer, 300)
    rice = await services.run(services.shop.add_item, w.worker, w.community_id, "大米5kg", 100, 3, donor="福满仓粮油")
    haircut = await services.run(services.shop.add_item, w.worker, w.community_id, "理发服务", 30, None)
    return Shop(w, Chat(services), rice.id, haircut.id)


async def test_browse_redeem_approve_pickup(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    shelf = await chat.say("volunteer1", "/shop")
    assert "可用积分：300" in shelf.text and "福满仓粮油" in shelf.text
    assert f"I{shop.rice} 大米5kg · 100分 · 剩 3 件" in shelf.text
    assert "理发服务 · 30分 · 不限量" in shelf.text
    assert shelf.options == [f"/redeem I{shop.rice}", f"/redeem I{shop.haircut}"]

    asked = await chat.choose("volunteer1", shelf, f"/redeem I{shop.rice}")
    assert "最多可兑换 3 件" in asked.text
    assert asked.options == ["1", "2", "3"]  # no more than the shelf holds
    confirm = await chat.choose("volunteer1", asked, "2")
    assert "大米5kg ×2，共 200 积分" in confirm.text
    done = await chat.choose("volunteer1", confirm, "yes")
    assert "已提交兑换 R1" in done.text and "冻结 200 积分" in done.text
    assert await account(services, w.community_id, w.volunteer) == (300, 200)
    assert await stock(services, shop.rice) == 1
    assert "shop.notify.new_redemption" in await notification_keys(services, w.worker)

    pending = await chat.say("worker1", "/pending")
    assert "兑换 R1 · 志愿者1 · 大米5kg ×2 · 200 分" in pending.text
    assert "/approve_order R1" in pending.options and "/reject_order R1" in pending.options
    approved = await chat.choose("worker1", pending, "/approve_order R1")
    code = (await redemption(services, 1)).pickup_code
    assert code is not None and len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    assert f"取货码 {code} 已发给本人" in approved.text
    assert await notification_keys(services, w.volunteer) == ["shop.notify.approved"]
    orders = await chat.say("volunteer1", "/orders")
    assert f"R1 · 大米5kg ×2 · 200 分 · 待取货 · 取货码 {code}" in orders.text

    handed = await chat.say("worker2", f"/pickup {code.lower()}")
    assert "核销成功：R1" in handed.text and "已扣除 200 积分" in handed.text
    assert await account(services, w.community_id, w.volunteer) == (100, 0)
    assert await account(services, w.community_id, None, "supermarket") == (200, 0)
    assert (await redemption(services, 1)).status == "done"
    assert "已领取" in (await chat.say("volunteer1", "/orders")).text

    reconciled = await chat.say("worker1", "/reconcile")
    assert f"I{shop.rice} 大米5kg：期初 0，入库 +3，预留 2，发放 2，退回 0，期末 1 ✓" in reconciled.text
    assert "账物相符" in reconciled.text
    await ledger_invariants(services)


async def test_one_liner_and_step_by_step_pickup(services: Services, shop: Shop) -> None:
    chat = shop.chat
    said = await chat.say("volunteer2", f"/redeem I{shop.haircut} 2")
    assert "已提交兑换 R1：理发服务 ×2，冻结 60 积分" in said.text
    await chat.say("worker1", "/approve_order R1")
    code = (await redemption(services, 1)).pickup_code
    asked = await chat.say("worker1", "/核销")
    assert "取货码" in asked.text
    done = await chat.say("worker1", f" {code[:3]}-{code[3:]} ")
    assert "核销成功：R1" in done.text
    assert await stock(services, shop.haircut) is None  # services stay unlimited


async def test_reject_with_reason_gives_goods_and_points_back(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    await chat.say("volunteer1", f"/redeem I{shop.rice} 3")
    assert await stock(services, shop.rice) == 0
    sold_out = await chat.say("volunteer2", f"/redeem I{shop.rice}")
    assert "已经兑完了" in sold_out.text
    asked = await chat.say("worker1", "/reject_order R1")
    assert "请写明驳回兑换 R1 的理由" in asked.text
    done = await chat.say("worker1", "大米受潮了，换一批再来")
    assert "已驳回兑换 R1" in done.text
    assert await stock(services, shop.rice) == 3
    assert await account(services, w.community_id, w.volunteer) == (300, 0)
    r = await redemption(services, 1)
    assert (r.status, r.reason, r.decided_by_id) == ("rejected", "大米受潮了，换一批再来", w.worker)
    assert await notification_keys(services, w.volunteer) == ["shop.notify.rejected"]
    assert "之前已经驳回了" in (await chat.say("worker2", "/reject_order R1 again")).text
    # Without a reason: the service refuses at once, nobody is asked for a reason in vain.
    assert (await chat.say("worker2", "/reject_order R1")).text == "兑换 R1 已经处理过了（未通过）。"
    refused = await chat.say("worker2", "/approve_order R1")
    assert "已经处理过了（未通过）" in refused.text
    assert await count_transfers(services, phase="void") == 1
    await ledger_invariants(services)


async def test_cancel_only_before_approval_and_only_ones_own(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    await chat.say("volunteer1", f"/redeem I{shop.rice} 1")
    await chat.say("volunteer1", f"/redeem I{shop.rice} 1")
    orders = await chat.say("volunteer1", "/orders")
    assert "/cancel_order R1" in orders.options and "/cancel_order R2" in orders.options

    before = await snapshot(services)
    assert "没有找到兑换 R1" in (await chat.say("volunteer2", "/cancel_order R1")).text
    assert await snapshot(services) == before

    cancelled = await chat.choose("volunteer1", orders, "/cancel_order R1")
    assert "已取消兑换 R1" in cancelled.text and "100 积分已退回" in cancelled.text
    assert "之前已经取消了" in (await chat.say("volunteer1", "/cancel_order R1")).text
    assert await stock(services, shop.rice) == 2
    assert await account(services, w.community_id, w.volunteer) == (300, 100)

    await chat.say("worker1", "/approve_order R2")
    before = await snapshot(services)
    refused = await chat.say("volunteer1", "/cancel_order R2")
    assert "现在是“待取货”，不能再取消了" in refused.text
    assert await snapshot(services) == before
    await ledger_invariants(services)


async def test_unclaimed_holds_expire_and_both_sides_are_told(
    services: Services, shop: Shop, clock: FixedClock
) -> None:
    w, chat = shop.w, shop.chat
    await chat.say("volunteer1", f"/redeem I{shop.rice} 1")
    await chat.say("volunteer2", f"/redeem I{shop.rice} 2")
    await chat.say("worker1", "/approve_order R2")
    code = (await redemption(services, 2)).pickup_code
    job = load_jobs()["expire-holds"]
    assert job.every is not None and job.every.total_seconds() == 3600

    clock.advance(days=6, hours=23)
    assert await job.run(services, clock.now(), {}) == "expire-holds: 0 redemption(s) expired"
    clock.advance(hours=2)
    assert await job.run(services, clock.now(), {}) == "expire-holds: 2 redemption(s) expired"
    assert await job.run(services, clock.now(), {}) == "expire-holds: 0 redemption(s) expired"

    assert [(await redemption(services, i)).status for i in (1, 2)] == ["expired", "expired"]
    assert await stock(services, shop.rice) == 3
    # R1 was never approved: it waited for a worker, R2 for its pickup.
    for volunteer, key in zip(w.volunteers[:2], ("shop.notify.expired_unapproved", "shop.notify.expired"), strict=True):
        assert await account(services, w.community_id, volunteer) == (300, 0)
        assert (await notification_keys(services, volunteer))[-1] == key
    assert (await notification_keys(services, w.worker2)).count("shop.notify.expired_worker") == 1
    assert (await notification_keys(services, w.worker2)).count("shop.notify.expired_unapproved_worker") == 1
    assert await count_transfers(services, phase="expire") == 2

    before = await snapshot(services)
    refused = await chat.say("worker1", f"/pickup {code}")
    assert "取货码已失效" in refused.text and "已过期" in refused.text
    assert await snapshot(services) == before
    reconciled = await chat.say("worker1", "/reconcile 2026-11")
    assert "预留 3，发放 0，退回 3，期末 3 ✓" in reconciled.text
    await ledger_invariants(services)


async def test_another_communitys_worker_learns_nothing_of_a_redemption(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    await chat.say("volunteer1", f"/redeem I{shop.rice} 1")
    # The other community's worker asks to reject R1 without a reason: refused, and told neither
    # its state nor whose it is (the flow reads it before asking for the reason).
    said = await chat.say("otherworker", "/reject_order R1")
    assert "只有本社区的社区工作者" in said.text and "大米" not in said.text and "志愿者1" not in said.text
    assert "理由" not in said.text  # no reason asked: nothing to reject there
    with pytest.raises(NotAllowed):
        await services.run(services.shop.rejectable, w.other_worker, 1)
    with pytest.raises(NotAllowed):  # a neighbour of the same community is no worker
        await services.run(services.shop.rejectable, w.volunteers[1], 1)
    assert (await services.run(services.shop.rejectable, w.worker2, 1)).item_name == "大米5kg"
    with pytest.raises(NotFound):
        await services.run(services.shop.rejectable, w.worker, 99)


async def test_wrong_or_used_code_and_other_community_change_nothing(services: Services, shop: Shop) -> None:
    chat = shop.chat
    await chat.say("volunteer1", f"/redeem I{shop.rice} 1")
    await chat.say("worker1", "/approve_order R1")
    code = (await redemption(services, 1)).pickup_code
    wrong = "".join(next(c for c in CODE_ALPHABET if c != ch) for ch in code)

    before = await snapshot(services)
    for line in (f"/pickup {wrong}", "/pickup 12", "/pickup O0I1OO"):
        assert "不正确" in (await chat.say("worker1", line)).text
    # The other community's worker: not theirs to decide, and the code means nothing there.
    assert "只有本社区的社区工作者" in (await chat.say("otherworker", "/approve_order R1")).text
    assert "只有本社区的社区工作者" in (await chat.say("otherworker", "/reject_order R1 不给")).text
    assert "只有本社区的社区工作者" in (await chat.say("otherworker", "/reject_order R1")).text
    assert "不正确" in (await chat.say("otherworker", f"/pickup {code}")).text
    assert "只有本社区的社区工作者" in (await chat.say("otherworker", f"/restock I{shop.rice} 5 捐赠")).text
    # Volunteers are not workers at all.
    assert "只有本社区的社区工作者" in (await chat.say("volunteer2", f"/pickup {code}")).text
    # Nothing changed but the audit of the four wrong codes (a guard against guessing).
    accounts, items, redemptions, (transfers, movements, audits, notes) = await snapshot(services)
    assert (accounts, items, redemptions, (transfers, movements, audits - 4, notes)) == before
    with services.db.read() as session:
        actions = list(session.scalars(text("SELECT action FROM audit_log ORDER BY id DESC LIMIT 4")))
    assert actions == ["handover.wrong_code"] * 4

    assert "核销成功" in (await chat.say("worker1", f"/pickup {code}")).text
    before = await snapshot(services)
    used = await chat.say("worker2", f"/pickup {code}")
    assert "已经用过了" in used.text
    assert await snapshot(services) == before
    assert await count_transfers(services, phase="post") == 1


async def test_nobody_decides_their_own_redemption(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    await fund(services, w, w.worker, 200)
    await chat.say("worker1", f"/redeem I{shop.rice} 1")
    before = await snapshot(services)
    assert "不能审核或核销自己的兑换" in (await chat.say("worker1", "/approve_order R1")).text
    assert await snapshot(services) == before
    await chat.say("worker2", "/approve_order R1")
    code = (await redemption(services, 1)).pickup_code
    assert "不能审核或核销自己的兑换" in (await chat.say("worker1", f"/pickup {code}")).text
    assert "核销成功" in (await chat.say("worker2", f"/pickup {code}")).text


async def test_same_press_twice_or_redelivered_posts_once(services: Services, shop: Shop) -> None:
    w, chat = shop.w, shop.chat
    first = await chat.say("volunteer1", f"/redeem I{shop.rice} 1", request_key="update-41")
    again = await chat.say("volunteer1", f"/redeem I{shop.rice} 1", request_key="update-41")
    assert "已提交兑换 R1" in first.text and "之前已经提交过了" in again.text
    assert await account(services, w.community_id, w.volunteer) == (300, 100)
    assert await stock(services, shop.rice) == 2
    assert await count_transfers(services, phase="pending") == 1

    await chat.say("worker1", "/approve_order R1", request_key="update-42")
    code = (await redemption(services, 1)).pickup_code
    replay = await chat.say("worker1", "/approve_order R1", request_key="update-42")
    assert f"之前已经通过了（取货码 {code}）" in replay.text
    assert (await chat.say("worker2", "/approve_order R1")).text == replay.text
    assert (await redemption(services, 1)).pickup_code == code  # a second approval draws no new code

    await chat.say("worker1", f"/pickup {code}", request_key="update-43")
    await chat.say("worker1", f"/pickup {code}", request_key="update-43")
    assert await count_transfers(services, phase="post") == 1
    assert await account(services, w.community_id, w.volunteer) == (200, 0)
    await ledger_invariants(services)


async def test_concurrent_presses_resolve_once(services: Services, shop: Shop) -> None:
    """Approvals racing the volunteer's cancel, then hand-overs racing a rejection: exactly one
    press wins each race, and each hold resolves once."""
    w = shop.w
    shop_service = services.shop
    ids = [
        (await services.run(shop_service.redeem, w.volunteer, w.community_id, shop.haircut, 1)).redemption.id
        for _ in range(6)
    ]

    def winners(results: list[object]) -> list[object]:
        assert all(isinstance(r, AlreadyDecided) for r in results if isinstance(r, BaseException)), results
        return [r for r in results if not isinstance(r, BaseException) and r.changed]  # type: ignore[attr-defined]

    for rid in ids:
        results = await asyncio.gather(
            services.run(shop_service.approve, w.worker, rid),
            services.run(shop_service.approve, w.worker2, rid),
            services.run(shop_service.cancel, w.volunteer, rid),
            return_exceptions=True,
        )
        assert len(winners(results)) == 1, results
    approved = [rid for rid in ids if (await redemption(services, rid)).status == "approved"]
    for rid in approved:
        code = (await redemption(services, rid)).pickup_code
        results = await asyncio.gather(
            *(
                services.run(shop_service.pickup, worker, w.community_id, code)
                for worker in (w.worker, w.worker2, w.worker)
            ),
            services.run(shop_service.reject, w.worker2, rid, "货架空了"),
            return_exceptions=True,
        )
        assert len(winners(results)) == 1, results
    statuses = [(await redemption(services, rid)).status for rid in ids]
    assert await count_transfers(services, phase="post") == statuses.count("done")
    assert await count_transfers(services, phase="void") == statuses.count("cancelled") + statuses.count("rejected")
    assert await account(services, w.community_id, w.volunteer) == (300 - 30 * statuses.count("done"), 0)
    await ledger_invariants(services)
