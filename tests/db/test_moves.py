"""Moving to another community with one's points (通存通兑), through the dialog engine: the old
community's worker approves, the new one's accepts; the points go through both clearing
accounts, each community's books and the district's still balance, the membership moves, the
hours stay, and the monthly report shows the transfer out and in."""

from __future__ import annotations

from datetime import date

import pytest

from bot.kernel.clock import Month
from bot.reports import service as reports_module
from bot.services import Services
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, fund, notification_keys, snapshot
from tests.world import World, make_world


@pytest.fixture
async def w(services: Services) -> World:
    return await make_world(services)


async def _summary(services: Services, community_id: int, year: int, month: int):
    with services.db.uow() as session:
        return reports_module.ledger_summary(
            *reports_module._flows(session, community_id, Month(year, month, "Asia/Shanghai"))
        )


async def test_move_approve_accept(services: Services, w: World) -> None:
    chat = Chat(services)
    recorded = await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [w.volunteer],
        category_id=w.categories["探访"],
        service_date=date(2026, 11, 19),
        minutes=60,
    )
    log_id = recorded[0].log.id
    await fund(services, w, w.volunteer, 60)  # and 10 points for the hour recorded
    asked = await chat.say("volunteer1", "/move 和谐社区")
    assert asked.keys == ["move.requested"], asked.text
    assert "move.notify.requested" in await notification_keys(services, w.worker)
    assert (await chat.say("volunteer1", "/move 和谐社区")).keys == ["error.move_open"]

    # The new community's worker cannot go first; the old one's approves from /pending.
    before = await snapshot(services)
    assert (await chat.say("otherworker", "/approve M1")).keys == ["error.need_worker"]
    assert await snapshot(services) == before
    pending = await chat.say("worker1", "/pending")
    assert "迁移 M1：志愿者1，幸福社区 → 和谐社区" in pending.text and "/approve_move M1" in pending.options
    approved = await chat.choose("worker1", pending, "/approve_move M1")
    assert approved.keys == ["move.approved"], approved.text
    assert (await chat.say("worker2", "/approve M1")).keys == ["move.already"]  # now the new community's turn
    assert (await chat.say("resident1", "/approve M1")).keys == ["error.need_worker"]

    incoming = await chat.say("otherworker", "/pending")
    assert "/approve_move M1" in incoming.options
    accepted = await chat.say("otherworker", "/approve M1")
    assert accepted.keys == ["move.accepted"] and "70 积分已迁入 和谐社区" in accepted.text
    assert (await chat.say("otherworker", "/approve M1")).keys == ["move.already"]

    assert await account(services, w.community_id, w.volunteer) == (0, 0)
    assert await account(services, w.other_community_id, w.volunteer) == (70, 0)
    assert await account(services, w.community_id, None, "clearing") == (70, 0)
    assert await account(services, w.other_community_id, None, "clearing") == (-70, 0)
    for community in (w.community_id, w.other_community_id, None):
        await ledger_invariants(services, community)
    assert await services.run(services.people.membership, w.volunteer, w.community_id) is None
    member = await services.run(services.people.membership, w.volunteer, w.other_community_id)
    assert member is not None and member.role == "volunteer"
    assert "move.notify.done" in await notification_keys(services, w.volunteer)
    said = await chat.say("volunteer1", "/balance")
    assert "可用积分：70" in said.text
    # The hours history stays with the person, in the community where they served.
    assert [g.id for g in await services.run(services.hours.logs_of, w.volunteer, w.community_id)] == [log_id]

    out, into = (
        await _summary(services, w.community_id, 2026, 11),
        await _summary(services, w.other_community_id, 2026, 11),
    )
    assert (out.transfers_out, out.transfers_in, out.difference) == (70, 0, 0)
    assert (into.transfers_in, into.transfers_out, into.difference) == (70, 0, 0)


async def test_reject_cancel_and_refusals(services: Services, w: World) -> None:
    chat = Chat(services)
    assert (await chat.say("volunteer1", "/move 幸福社区")).keys == ["error.same_community"]
    assert (await chat.say("volunteer1", "/move 没有的社区")).keys == ["error.no_community"]
    assert (await chat.say("worker1", "/move 和谐社区")).keys == ["error.move_worker"]
    await chat.say("volunteer1", "/move 和谐社区")
    assert (await chat.say("worker1", "/reject M1")).keys == ["move.ask_reason"]
    rejected = await chat.say("worker1", "新社区没有空位")
    assert rejected.keys == ["move.rejected"]
    assert "move.notify.rejected" in await notification_keys(services, w.volunteer)
    await chat.say("volunteer2", "/move 和谐社区")
    assert (await chat.say("volunteer2", "/move cancel")).keys == ["move.cancelled"]
    assert (await chat.say("volunteer2", "/move cancel")).keys == ["error.no_open_move"]
    assert (await chat.say("worker1", "/approve M2")).keys == ["move.already"]


async def test_a_move_waits_for_held_points(services: Services, w: World) -> None:
    chat = Chat(services)
    await fund(services, w, w.volunteer, 100)
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米", 40, 5)
    await chat.say("volunteer1", f"/redeem I{item.id} 1")
    await chat.say("volunteer1", "/move 和谐社区")
    # Checked at the first approval already: the new community never hears of a hold only the
    # old one can clear.
    before = await snapshot(services)
    refused = await chat.say("worker1", "/approve M1")
    assert refused.keys == ["error.move_holds_open"] and "40" in refused.text
    assert await snapshot(services) == before
    await chat.say("volunteer1", "/cancel_order R1")
    assert (await chat.say("worker1", "/approve M1")).keys == ["move.approved"]
    # Hours waiting for approval in the old community would be paid there: decided first.
    await chat.say("volunteer1", "/log 1h 探访")
    refused = await chat.say("otherworker", "/approve M1")
    assert refused.keys == ["error.move_logs_pending"], refused.text
    log_id = (await services.run(services.hours.logs_of, w.volunteer, w.community_id))[0].id
    await chat.say("worker1", f"/approve H{log_id}")
    assert (await chat.say("otherworker", "/approve M1")).keys == ["move.accepted"]
    assert await account(services, w.other_community_id, w.volunteer) == (110, 0)
