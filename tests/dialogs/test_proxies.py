"""Nobody spends a member's points alone (issue 21, item 1), through the console chat: a worker
acts only for people without a chat of their own; a worker's spending for a member waits for a
second worker, and the one who acted never approves, hands over or confirms it; the member's
family hears of every action with who took it; a worker's own family link waits for another
worker and ends with the role (`/unappoint`)."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.services import Services
from models import AuditEntry, FamilyLink, Membership, Notification, ServiceRequest
from tests.ledger import ledger_invariants
from tests.shop_helpers import account, fund, notification_keys
from tests.world import World, person


async def _wangfang(services: Services, world: World) -> int:
    """王芳: a volunteer with her own chat, and 200 points."""
    wang = await person(services, "wangfang")
    code = await services.run(services.people.create_invite, world.worker, world.community_id)
    await services.run(services.people.join, wang, code)
    await services.run(services.people.register_volunteer, wang, world.community_id, "王芳", "13912345670")
    await fund(services, world, wang, 200)
    return wang


async def _grandpa(services: Services, world: World, chat) -> int:
    """李爷爷: no phone, registered by worker1 as volunteer2's relative; 200 points."""
    worker = chat("worker1")
    await worker.say("/family link volunteer2 李爷爷")
    assert worker.keys() == ["family.ask_register"]
    await worker.say("1")
    assert worker.keys() == ["family.linked_new"]
    [found] = await services.run(services.people.people_named, world.community_id, "李爷爷")
    await fund(services, world, found.person_id, 200)
    return found.person_id


async def _audits(services: Services, prefix: str) -> list[AuditEntry]:
    with services.db.read() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%")).order_by(AuditEntry.id))
        )


async def _notes(services: Services, person_id: int, prefix: str) -> list[Notification]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.person_id == person_id, Notification.key.like(f"{prefix}%"))
                .order_by(Notification.id)
            )
        )


async def test_the_repro_a_worker_cannot_spend_a_member_with_her_own_chat(
    services: Services,
    world: World,
    chat,
) -> None:
    wang = await _wangfang(services, world)
    rice = await services.run(services.shop.add_item, world.worker, world.community_id, "大米", 80, 5)
    worker = chat("worker1")
    said = await worker.say("/as 王芳")
    assert worker.keys() == ["error.proxy_own_chat"], said
    await worker.say(f"/redeem I{rice.id} 2")  # for the worker themselves: nothing to spend
    await worker.say("/as me")
    await worker.say("/approve R1")
    code = re.search(r"[A-Z0-9]{6}", await worker.say("/orders") or "")
    if code:
        await worker.say(f"/pickup {code.group(0)}")
    # The request the issue paid from her account: refused, she asks herself.
    said = await worker.say("/request_for 王芳 助洁 3h 明天 上午 自付")
    assert worker.keys() == ["error.proxy_own_chat"], said
    assert await account(services, world.community_id, wang) == (200, 0)
    await ledger_invariants(services, world.community_id)


async def test_a_worker_confirming_her_request_needs_a_second_worker(
    services: Services,
    world: World,
    chat,
) -> None:
    wang = await _wangfang(services, world)
    her, helper, worker, worker2 = chat("wangfang"), chat("volunteer1"), chat("worker1"), chat("worker2")
    assert "Q1" in await her.say("/request 助洁 3h 明天 上午 自付")
    await helper.say("/take Q1")
    await helper.say("/done Q1 3h")
    said = await worker.say("/accept Q1")
    assert worker.keys() == ["accept.waiting_second"], said
    assert await account(services, world.community_id, wang) == (200, 30)
    assert [n.params["by"] for n in await _notes(services, wang, "family.proxy.accept")] == ["张社工"]
    assert "Q1" in await worker2.say("/pending")
    assert "/approve Q1" in worker2.options()
    await worker.say("/approve Q1")
    assert worker.keys() == ["error.own_proxy_action"]
    assert await account(services, world.community_id, wang) == (200, 30)
    said = await worker2.say("/approve Q1")
    assert worker2.keys() == ["accept.done"], said
    assert await account(services, world.community_id, wang) == (170, 0)
    [entry] = await _audits(services, "proxy.accept")
    assert (entry.actor_id, entry.subject_id, entry.details["for"]) == (world.worker, 1, wang)
    await ledger_invariants(services, world.community_id)


async def test_a_worker_acts_for_a_member_without_a_phone_with_a_second_worker(
    services: Services,
    world: World,
    chat,
) -> None:
    grandpa = await _grandpa(services, world, chat)
    family = world.volunteers[1]
    rice = await services.run(services.shop.add_item, world.worker, world.community_id, "大米", 80, 5)
    worker, worker2, helper = chat("worker1"), chat("worker2"), chat("volunteer1")
    assert "李爷爷" in await worker.say("/as 李爷爷") and worker.keys() == ["as.now"]
    assert "redeem.submitted" in (await worker.say(f"/redeem I{rice.id} 2") and worker.keys())
    await worker.say("/as me")
    # His family hears of both, with who did it.
    notes = await _notes(services, family, "family.proxy.")
    assert [(n.key, n.params["by"], n.params["name"]) for n in notes] == [
        ("family.proxy.act_as", "张社工", "李爷爷"),
        ("family.proxy.redeem", "张社工", "李爷爷"),
    ]
    # The worker who redeemed for him neither approves nor hands over.
    await worker.say("/approve R1")
    assert worker.keys() == ["error.own_proxy_action"]
    said = await worker2.say("/approve R1")
    assert worker2.keys() == ["approve_order.done"], said
    code = re.search(r"取货码\s*([A-Z0-9]{6})", said)
    assert code, said
    await worker.say(f"/pickup {code.group(1)}")
    assert worker.keys() == ["error.own_proxy_action"]
    assert await account(services, world.community_id, grandpa) == (200, 160)
    await worker2.say(f"/pickup {code.group(1)}")
    assert worker2.keys() == ["pickup.done"]
    assert await account(services, world.community_id, grandpa) == (40, 0)

    # A request paid from his points, asked by a worker: open only once a second worker agrees.
    await fund(services, world, grandpa, 60)
    said = await worker.say("/request_for 李爷爷 助洁 3h 明天 上午 自付")
    assert worker.keys() == ["request.posted_second"], said
    assert await account(services, world.community_id, grandpa) == (100, 30)
    await helper.say("/take Q1")
    assert helper.keys() == ["error.request_not_open"]
    await worker.say("/approve Q1")
    assert worker.keys() == ["error.request_own_settle"]
    said = await worker2.say("/approve Q1")
    assert worker2.keys() == ["grant.done_own"], said
    await helper.say("/take Q1")
    await helper.say("/done Q1 3h")
    await worker.say("/accept Q1")  # the worker who asked for him does not confirm it
    assert worker.keys() == ["error.own_proxy_action"]
    await worker2.say("/accept Q1")
    assert worker2.keys() == ["accept.waiting_second"]
    await worker2.say("/approve Q1")
    assert worker2.keys() == ["error.own_proxy_action"]
    assert await account(services, world.community_id, grandpa) == (100, 30)
    said = await worker.say("/approve Q1")
    assert worker.keys() == ["accept.done"], said
    assert await account(services, world.community_id, grandpa) == (70, 0)
    with services.db.read() as session:
        r = session.get(ServiceRequest, 1)
        assert (r.poster_id, r.accepted_by_id, r.decided_by_id) == (world.worker, world.worker2, world.worker)
    # Every proxy action is audited with both people.
    actions = [(a.action, a.actor_id, a.details["for"]) for a in await _audits(services, "proxy.")]
    assert ("proxy.redeem", world.worker, grandpa) in actions
    assert ("proxy.request", world.worker, grandpa) in actions
    assert ("proxy.accept", world.worker2, grandpa) in actions
    await ledger_invariants(services, world.community_id)


async def test_family_acting_for_a_relative_pays_at_once_and_the_relative_is_told(
    services: Services,
    world: World,
    chat,
) -> None:
    grandpa = await _grandpa(services, world, chat)
    member, helper = chat("volunteer2"), chat("volunteer1")
    await member.say("/as 李爷爷")
    await member.say("/request 助洁 1h 明天 自付")
    assert member.keys() == ["request.posted_own"]
    await member.say("/as me")
    await helper.say("/take Q1")
    await helper.say("/done Q1 1h")
    await member.say("/accept Q1")
    assert member.keys() == ["accept.done"]
    assert await account(services, world.community_id, grandpa) == (190, 0)
    # Told, even without a phone (kept for when he gets one); never his family about themselves.
    assert "family.proxy.request" in await notification_keys(services, grandpa)
    assert "family.proxy.request" not in await notification_keys(services, world.volunteers[1])


async def test_a_worker_s_own_family_link_waits_for_another_worker_and_ends_with_the_role(
    services: Services,
    world: World,
    chat,
) -> None:
    worker, worker2, admin = chat("worker1"), chat("worker2"), chat("admin")
    await worker.say("/family link worker1 孙大爷")
    said = await worker.say("1")  # yes, register him
    assert worker.keys() == ["family.link_waiting"], said
    with services.db.read() as session:
        link = session.scalar(select(FamilyLink))
        assert (link.status, link.role_community_id) == ("approval", world.community_id)
    assert "family.notify.self_link" in await notification_keys(services, world.worker2)
    # Waiting, the link gives him nothing: spending for 孙大爷 is still a worker's, for two.
    await fund(services, world, link.relative_id, 50)
    await worker.say("/as 孙大爷")
    await worker.say("/request 助洁 1h 明天 自付")
    assert worker.keys() == ["request.posted_second"]
    await worker.say("/as me")
    await worker.say(f"/approve L{link.id}")
    assert worker.keys() == ["error.own_proxy_action"]
    assert "L" in await worker2.say("/pending") and f"/approve L{link.id}" in worker2.options()
    said = await worker2.say(f"/approve L{link.id}")
    assert worker2.keys() == ["family.link_approved"], said
    assert "family.notify.linked" in await notification_keys(services, world.worker)
    assert (await services.run(services.family.links, world.worker))[0].relative_name == "孙大爷"

    await admin.say("/community 幸福社区")
    said = await admin.say("/unappoint worker1")
    assert admin.keys() == ["unappoint.done"], said
    assert await services.run(services.family.links, world.worker) == []
    with services.db.read() as session:
        role = session.scalar(
            select(Membership.role).where(
                Membership.person_id == world.worker, Membership.community_id == world.community_id
            )
        )
    assert role == "resident"
    assert {"notify.unappointed", "family.notify.removed"} <= set(await notification_keys(services, world.worker))
    assert (await worker.say("/pending")) and worker.keys() == ["error.need_worker"]
    assert {"worker.unappoint", "kin.unlink"} <= {a.action for a in await _audits(services, "")}
    # Only admins end a role.
    await worker2.say("/unappoint 李社工")
    assert worker2.keys() == ["error.need_admin"]


async def test_calling_things_off_for_someone_is_told_too(services: Services, world: World, chat) -> None:
    grandpa = await _grandpa(services, world, chat)
    rice = await services.run(services.shop.add_item, world.worker, world.community_id, "大米", 80, 5)
    member, worker = chat("volunteer2"), chat("worker1")
    await member.say("/as 李爷爷")
    await member.say(f"/redeem I{rice.id} 1")
    await member.say("/cancel_order R1")
    assert member.keys() == ["cancel_order.done"]
    await member.say("/as me")
    await worker.say("/request_for 李爷爷 助洁 1h 明天 社区")
    await worker.say("/cancel_request Q1")
    assert worker.keys() == ["cancel_request.done"]
    told = [(n.key, n.params["by"]) for n in await _notes(services, grandpa, "family.proxy.")]
    assert ("family.proxy.cancel_order", "志愿者2") in told and ("family.proxy.cancel_request", "张社工") in told
    # His family hears of the worker's action, not of their own.
    theirs = [n.key for n in await _notes(services, world.volunteers[1], "family.proxy.")]
    assert "family.proxy.cancel_request" in theirs and "family.proxy.cancel_order" not in theirs
    assert await account(services, world.community_id, grandpa) == (200, 0)
    await ledger_invariants(services, world.community_id)
