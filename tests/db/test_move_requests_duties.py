"""What a move must not leave behind in the old community: a service request the person took or
posted (its points would be paid into an account there, invisible after the move), visit
assignments (the 08:30 reminders with elders' names and addresses) and team duties. Every check
runs at the first approval as at the acceptance, and a finished move is not offered to withdraw."""

from __future__ import annotations

from bot.services import Services
from tests.db.test_visits_morning import inbox, morning_world
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, fund, snapshot
from tests.world import make_world


async def test_a_taken_request_holds_the_move_until_it_is_paid(services: Services) -> None:
    w = await make_world(services)
    chat = Chat(services)
    await fund(services, w, w.resident, 100)
    posted = await chat.say("resident1", "/request 助洁 3h 11-22 上午 打扫厨房")
    assert "Q1" in posted.text, posted.text
    if "yes" in posted.options:
        await chat.say("resident1", "yes")
    # Asked before taking anything: the request is lodged.
    assert (await chat.say("volunteer1", "/move 和谐社区")).keys == ["move.requested"]
    assert "Q1" in (await chat.say("volunteer1", "/take Q1")).text
    # The old community's worker is told at once, not only the new one at the end.
    before = await snapshot(services)
    refused = await chat.say("worker1", "/approve M1")
    assert refused.keys == ["error.move_requests_open_member"] and "Q1" in refused.text, refused.text
    assert await snapshot(services) == before
    # Withdrawn and asked again with the request taken: refused, naming it.
    assert (await chat.say("volunteer1", "/move cancel")).keys == ["move.cancelled"]
    refused = await chat.say("volunteer1", "/move 和谐社区")
    assert refused.keys == ["error.move_requests_open"] and "Q1" in refused.text, refused.text
    # Done and paid: the 30 points arrive in the old community, then move with the person.
    await chat.say("volunteer1", "/done Q1 3h")
    assert "已支付 30 分" in (await chat.say("resident1", "/accept Q1")).text
    assert (await chat.say("volunteer1", "/move 和谐社区")).keys == ["move.requested"]
    assert (await chat.say("worker1", "/approve M2")).keys == ["move.approved"]
    accepted = await chat.say("otherworker", "/approve M2")
    assert accepted.keys == ["move.accepted"] and "30 积分" in accepted.text, accepted.text
    assert await account(services, w.community_id, w.volunteer) == (0, 0)
    assert await account(services, w.other_community_id, w.volunteer) == (30, 0)
    for community in (w.community_id, w.other_community_id, None):
        await ledger_invariants(services, community)
    # Done: /move shows it, without offering to withdraw it.
    shown = await chat.say("volunteer1", "/move")
    assert shown.keys == ["move.show_closed"] and "/move cancel" not in shown.text, shown.text


async def test_a_posted_request_holds_the_move_until_cancelled(services: Services) -> None:
    w = await make_world(services)
    chat = Chat(services)
    await fund(services, w, w.volunteer, 100)
    await chat.say("volunteer1", "/move 和谐社区")
    posted = await chat.say("volunteer1", "/request 助洁 2h 11-22 上午 社区 擦窗户")
    assert "Q1" in posted.text, posted.text
    if "yes" in posted.options:
        await chat.say("volunteer1", "yes")
    before = await snapshot(services)
    refused = await chat.say("worker1", "/approve M1")
    assert refused.keys == ["error.move_requests_open_member"] and "Q1" in refused.text, refused.text
    assert await snapshot(services) == before
    await chat.say("volunteer1", "/cancel_request Q1")
    assert (await chat.say("worker1", "/approve M1")).keys == ["move.approved"]
    assert (await chat.say("otherworker", "/approve M1")).keys == ["move.accepted"]
    assert await account(services, w.other_community_id, w.volunteer) == (100, 0)
    for community in (w.community_id, w.other_community_id, None):
        await ledger_invariants(services, community)


async def test_a_hold_is_refused_at_the_first_approval(services: Services) -> None:
    w = await make_world(services)
    chat = Chat(services)
    await fund(services, w, w.volunteer, 100)
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米", 40, 5)
    await chat.say("volunteer1", f"/redeem I{item.id} 1")
    await chat.say("volunteer1", "/move 和谐社区")
    refused = await chat.say("worker1", "/approve M1")  # before the new community hears of it
    assert refused.keys == ["error.move_holds_open"] and "40" in refused.text
    assert (await chat.say("otherworker", "/pending")).keys != []
    assert "/approve_move M1" not in (await chat.say("otherworker", "/pending")).options


async def test_a_move_ends_visits_and_team_duties_in_the_old_community(services: Services, clock) -> None:
    r = await morning_world(services, clock)
    chat = Chat(services)
    e = r.elders
    assert (await chat.say("worker1", "/team new 一队")).keys
    await chat.say("worker1", "/team 一队 add 志愿者1 志愿者2")
    await chat.say("worker1", "/team 一队 leader 志愿者1")
    assert "志愿者1" in (await chat.say("worker1", "/team 一队")).text
    await chat.say("volunteer1", "/move 和谐社区")
    assert (await chat.say("worker1", "/approve M1")).keys == ["move.approved"]
    assert (await chat.say("otherworker", "/approve M1")).keys == ["move.accepted"]
    # Off the elders' cards and the team, and the old community's workers are told what ended.
    card = (await chat.say("worker1", f"/elders E{e['王秀英']}")).text
    assert "志愿者2" in card and "志愿者1" not in card, card
    team = (await chat.say("worker1", "/team 一队")).text
    assert "志愿者2" in team and "志愿者1" not in team, team
    told = "\n".join(await inbox(services, r.worker))
    assert "志愿者1" in told and "王秀英" in told and "一队" in told, told
    # No 08:30 list of the old community's elders for them any more; the others still get theirs.
    await inbox(services, r.volunteers[0])  # what the move sent
    await services.run(services.visits.morning)
    assert await inbox(services, r.volunteers[0]) == []
    assert len(await inbox(services, r.volunteers[1])) == 1
