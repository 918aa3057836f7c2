"""The audit trail (issue 22, item 4), through the chat: every decision a worker takes and every
action taken for someone else leaves an entry naming the person it concerns, and `/audit`
shows them to the community's workers and admins only."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.services import Services
from models import AuditEntry
from tests.dialogs.test_certificates import some_hours
from tests.shop_helpers import fund
from tests.world import World


async def _entries(services: Services, subject_type: str, subject_id: int) -> list[tuple[str, int | None, int | None]]:
    with services.db.read() as session:
        return [
            tuple(r)
            for r in session.execute(  # type: ignore[misc]
                select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.person_id)
                .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
                .order_by(AuditEntry.id)
            )
        ]


async def _log(services: Services, world: World, volunteer: int, days: int) -> int:
    today = services.clock.community(services.settings.timezone).today()
    view = await services.run(
        services.hours.submit,
        volunteer,
        world.community_id,
        category_id=world.categories["助餐"],
        service_date=today - timedelta(days=days),
        minutes=60,
        note=None,
    )
    return view.id


async def test_every_decision_is_audited_with_whom_it_concerns(services: Services, world: World, chat) -> None:
    vol, vol2 = world.volunteers[0], world.volunteers[1]
    worker, worker2 = chat("worker1"), chat("worker2")
    approved, rejected = await _log(services, world, vol, 1), await _log(services, world, vol, 2)
    await worker.say(f"/approve H{approved}")
    await worker.say(f"/reject H{rejected} 日期不对")
    assert "志愿者2" in await worker.say("/record 志愿者2 2h 助餐 陪老人吃饭")
    with services.db.read() as session:
        recorded = session.scalar(select(AuditEntry.subject_id).where(AuditEntry.action == "hours.record"))
    assert await _entries(services, "log", approved) == [("hours.approve", world.worker, vol)]
    assert await _entries(services, "log", rejected) == [("hours.reject", world.worker, vol)]
    assert await _entries(services, "log", recorded) == [
        ("hours.record", world.worker, vol2),
        ("hours.approve", world.worker, vol2),
    ]
    # The shop: approved, handed over; rejected.
    await fund(services, world, vol, 200)
    towel = await services.run(services.shop.add_item, world.worker, world.community_id, "毛巾", 20, 10)
    first = await services.run(services.shop.redeem, vol, world.community_id, towel.id, 1, request_key="r1")
    second = await services.run(services.shop.redeem, vol, world.community_id, towel.id, 1, request_key="r2")
    said = await worker.say(f"/approve R{first.redemption.id}")
    code = re.search(r"取货码\s*([A-Z0-9]{6})", said)
    assert code, said
    await worker2.say(f"/pickup {code.group(1)}")
    await worker.say(f"/reject R{second.redemption.id} 没货了")
    assert await _entries(services, "redemption", first.redemption.id) == [
        ("redemption.approve", world.worker, vol),
        ("redemption.handover", world.worker2, vol),
    ]
    assert await _entries(services, "redemption", second.redemption.id) == [("redemption.reject", world.worker, vol)]
    # The pool: granted, refused.
    await services.run(services.points.donate, vol, world.community_id, 50, "donate:pool")
    asker = chat("volunteer1")
    granted = re.search(r"Q(\d+)", await asker.say("/request 助洁 2h 明天 上午 积分池"))
    refused = re.search(r"Q(\d+)", await asker.say("/request 助医 2h 后天 上午 积分池"))
    assert granted and refused
    await worker.say(f"/approve Q{granted[1]}")
    await worker.say(f"/reject Q{refused[1]} 积分池不够")
    assert [a for a, _, p in await _entries(services, "request", int(granted[1])) if p == vol] == [
        "service_request.grant"
    ]
    assert await _entries(services, "request", int(refused[1])) == [("service_request.refuse", world.worker, vol)]
    # The worker reads it back, newest first, with the reason.
    trail = await worker2.say("/audit 志愿者1")
    lines = [line for line in trail.splitlines() if re.match(r"\d+\. ", line)]
    assert "驳回求助" in lines[0] and "积分池不够" in lines[0], trail
    assert any("张社工 驳回服务记录 H" in line and "日期不对" in line for line in lines), trail
    assert any("李社工 核销发放 R" in line for line in lines), trail
    item = await worker2.say(f"/audit r{first.redemption.id}")
    assert item.index("核销发放") < item.index("通过兑换"), item


async def test_every_proxy_action_is_audited_for_the_relative(services: Services, world: World, chat) -> None:
    worker, family, helper = chat("worker1"), chat("volunteer2"), chat("volunteer1")
    await worker.say("/family link 志愿者2 李爷爷")
    await worker.say("1")
    [grandpa] = await services.run(services.people.people_named, world.community_id, "李爷爷")
    await fund(services, world, grandpa.person_id, 200)
    towel = await services.run(services.shop.add_item, world.worker, world.community_id, "毛巾", 20, 10)
    assert "李爷爷" in await family.say("/as 李爷爷")
    await family.say(f"/redeem I{towel.id} 1")
    await family.say("/cancel_order R1")
    posted = re.search(r"Q(\d+)", await family.say("/request 助洁 2h 明天 上午 社区"))
    assert posted
    await helper.say(f"/take Q{posted[1]}")
    await family.say(f"/share_phone Q{posted[1]}")
    await family.say("/as me")
    with services.db.read() as session:
        rows = list(
            session.execute(
                select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.person_id)
                .where(AuditEntry.action.like("proxy.%"))
                .order_by(AuditEntry.id)
            )
        )
    assert [tuple(r) for r in rows] == [
        (f"proxy.{a}", world.volunteers[1], grandpa.person_id)
        for a in ("act_as", "redeem", "cancel_order", "request", "share_phone")
    ]
    trail = await worker.say("/audit 李爷爷")
    for said in ("开始代办", "代为兑换 R1", "代为取消兑换 R1", f"代为发布求助 Q{posted[1]}", "代为同意交换电话"):
        assert f"志愿者2 {said}" in trail, trail


async def test_only_the_communitys_workers_and_admins_read_it(services: Services, world: World, chat) -> None:
    log = await _log(services, world, world.volunteers[0], 1)
    await chat("worker1").say(f"/approve H{log}")
    volunteer, other, admin = chat("volunteer1"), chat("otherworker"), chat("admin")
    await volunteer.say(f"/audit H{log}")
    assert volunteer.keys() == ["error.need_worker"]
    await other.say(f"/audit H{log}")
    assert other.keys() == ["audit.not_yours"]
    await other.say("/audit 志愿者1")
    assert other.keys() == ["error.no_such_person"]
    # A forged next-page button names a person of another community: refused the same way.
    await other.say(f"/audit #{world.volunteers[0]} 999999 2")
    assert other.keys() == ["error.no_such_person"]
    assert "张社工 通过服务记录" in await admin.say(f"/audit H{log}")
    worker2 = chat("worker2")
    await worker2.say("/audit")
    assert worker2.keys() == ["audit.usage"]


async def test_certificate_and_family_link_decisions_are_in_the_trail(services: Services, world: World, chat) -> None:
    await some_hours(services, world)
    volunteer, worker, worker2 = chat("volunteer1"), chat("worker1"), chat("worker2")
    await volunteer.say("/certificate 2026")
    await worker.say("/approve C1")
    await volunteer.say("/certificate all")
    await worker2.say("/reject C2 期间重复")
    assert await _entries(services, "certificate", 1) == [
        ("cert.request", world.volunteer, world.volunteer),
        ("cert.issue", world.worker, world.volunteer),
    ]
    assert await _entries(services, "certificate", 2) == [
        ("cert.request", world.volunteer, world.volunteer),
        ("cert.refuse", world.worker2, world.volunteer),
    ]
    trail = await worker2.say("/audit C2")
    assert "李社工 拒绝出具证明 C2（志愿者1）：期间重复" in trail and "志愿者1 申请志愿服务证明 C2" in trail
    # A worker's own family link waits for another worker: both steps are on the worker's trail.
    await worker.say("/family link worker1 孙大爷")
    await worker.say("1")
    said = await worker2.say("/approve L1")
    assert "孙大爷" in said, said
    with services.db.read() as session:
        kin = [
            tuple(r)
            for r in session.execute(
                select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.person_id)
                .where(AuditEntry.action.like("kin.%"))
                .order_by(AuditEntry.id)
            )
        ]
    assert ("kin.self_link", world.worker, world.worker) in kin and ("kin.link", world.worker2, world.worker) in kin
    assert "李社工 建立亲情关联" in await worker2.say("/audit 张社工")
