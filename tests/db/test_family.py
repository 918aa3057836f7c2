"""Family accounts (亲情账户) through the dialog engine: a code accepted in the relative's own
chat, a worker linking a relative without a phone, acting for a relative (`/as`), redeeming for
them with the pickup code sent to the member, gifts to family in another community, and who
may not act for whom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.kernel.errors import IdempotencyConflict, NotAllowed
from bot.services import Services
from models import AuditEntry, FamilyLink, Redemption, Transfer
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, fund, notification_keys, snapshot
from tests.world import World, make_world, person


@pytest.fixture
async def w(services: Services) -> World:
    return await make_world(services)


async def _grandma(services: Services, w: World) -> int:
    """王奶奶 joins 和谐社区 (the other community) with her own phone."""
    grandma = await person(services, "grandma", "王奶奶")
    code = await services.run(services.people.create_invite, w.other_worker, w.other_community_id, role="resident")
    await services.run(services.people.join, grandma, code)
    return grandma


async def _link_by_code(chat: Chat, member: str, relative: str) -> None:
    said = await chat.say(member, "/family add")
    code = said.text.split("：")[1].split("\n")[0].strip()
    accepted = await chat.say(relative, f"/family accept {code}")
    assert accepted.keys == ["family.accepted"], accepted.text


async def _named(services: Services, w: World, name: str) -> int:
    [found] = await services.run(services.people.people_named, w.community_id, name)
    return found.person_id


async def _audit_actions(services: Services) -> list[str]:
    with services.db.uow() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_link_by_code_act_for_redeem_and_come_back(services: Services, w: World) -> None:
    chat = Chat(services)
    grandma = await _grandma(services, w)
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(
            s, community_id=w.other_community_id, person_id=grandma, amount=120, key="fund-grandma"
        ),
    )
    rice = await services.run(services.shop.add_item, w.other_worker, w.other_community_id, "大米5kg", 100, 5)

    await _link_by_code(chat, "volunteer1", "grandma")
    assert "family.notify.accepted" in await notification_keys(services, w.volunteer)
    listed = await chat.say("volunteer1", "/family")
    assert "您可代 王奶奶 操作" in listed.text and "/as 王奶奶" in listed.options
    assert "志愿者1 可代您操作" in (await chat.say("grandma", "/family")).text

    now = await chat.choose("volunteer1", listed, "/as 王奶奶")
    assert now.keys == ["as.now"]
    assert "可用积分：120" in (await chat.say("volunteer1", "/balance")).text
    # Redeem for her: her points are held, the member is recorded and gets the pickup code.
    done = await chat.say("volunteer1", f"/redeem I{rice.id} 1")
    assert done.keys == ["redeem.submitted"], done.text
    assert await account(services, w.other_community_id, grandma) == (120, 100)
    with services.db.uow() as session:
        r = (session.scalars(select(Redemption))).one()
        hold = session.get(Transfer, r.hold_transfer_id)
    assert (r.person_id, r.proxy_id, hold.actor_id) == (grandma, w.volunteer, w.volunteer)
    await chat.say("otherworker", f"/approve_order R{r.id}")
    assert "shop.notify.approved" in await notification_keys(services, w.volunteer)
    assert "shop.notify.approved" not in await notification_keys(services, grandma)
    history = await chat.say("volunteer1", "/history")
    assert "兑换 大米5kg ×1（R1） -100" in history.text

    # Commands that are not for a relative are refused while acting, and change nothing.
    before = await snapshot(services)
    refused = await chat.say("volunteer1", "/log 1h 探访")
    assert refused.keys == ["as.not_for_relative"]
    assert (await chat.say("volunteer1", "/gift volunteer2 5")).keys == ["as.not_for_relative"]
    assert await snapshot(services) == before

    assert (await chat.say("volunteer1", "/as me")).keys == ["as.back"]
    assert "可用积分：0" in (await chat.say("volunteer1", "/balance")).text
    actions = await _audit_actions(services)
    assert "kin.offer" in actions and "kin.link" in actions and "proxy.act_as" in actions


async def test_a_worker_links_a_relative_without_a_phone(services: Services, w: World) -> None:
    chat = Chat(services)
    asked = await chat.say("worker1", "/family link volunteer2 李爷爷")
    assert asked.keys == ["family.ask_register"], asked.text  # nobody of that name: asked first
    linked = await chat.choose("worker1", asked, "yes")
    assert linked.keys == ["family.linked_new"], linked.text
    grandpa = await _named(services, w, "李爷爷")
    assert await services.run(services.people.membership, grandpa, w.community_id) is not None
    await fund(services, w, grandpa, 50)
    await chat.say("volunteer2", "/as 李爷爷")
    assert "可用积分：50" in (await chat.say("volunteer2", "/balance")).text
    # A worker of the relative's community may act for him without a link; then the link goes.
    assert (await chat.say("worker2", "/as 李爷爷")).keys == ["as.now"]
    link_id = (await services.run(services.family.links, w.volunteers[1]))[0].id
    removed = await chat.say("worker1", f"/family remove L{link_id}")
    assert removed.keys == ["family.removed"], removed.text
    # The link is gone: the member's next turn is their own again, and /as is refused.
    assert "可用积分：0" in (await chat.say("volunteer2", "/balance")).text
    assert (await chat.say("volunteer2", "/as 李爷爷")).keys == ["error.not_family"]
    assert {"kin.register", "kin.link", "kin.unlink"} <= set(await _audit_actions(services))


async def test_family_gift_across_communities_goes_through_clearing(services: Services, w: World) -> None:
    chat = Chat(services)
    grandma = await _grandma(services, w)
    await fund(services, w, w.volunteer, 80)
    # Not family yet: someone in another community is not found in the chat, and refused by
    # the service when named directly; nothing changes.
    before = await snapshot(services)
    assert (await chat.say("volunteer1", "/gift 王奶奶 30")).keys == ["error.no_such_person"]
    with pytest.raises(NotAllowed) as refused:
        await services.run(services.points.gift, w.volunteer, w.community_id, grandma, 30, "not-family")
    assert refused.value.key == "error.not_same_community"
    assert await snapshot(services) == before
    await _link_by_code(chat, "volunteer1", "grandma")
    assert (await chat.say("volunteer1", "/gift 王奶奶 30")).keys == ["gift.confirm"]
    given = await chat.say("volunteer1", "yes")
    assert given.keys == ["gift.done"], given.text
    assert await account(services, w.community_id, w.volunteer) == (50, 0)
    assert await account(services, w.other_community_id, grandma) == (30, 0)
    assert await account(services, w.community_id, None, "clearing") == (30, 0)
    assert await account(services, w.other_community_id, None, "clearing") == (-30, 0)
    for community in (w.community_id, w.other_community_id, None):
        await ledger_invariants(services, community)


@pytest.mark.parametrize("who", ["volunteer2", "otherworker", "resident1", "worker1"])
async def test_who_may_act_for_a_relative(services: Services, w: World, who: str) -> None:
    """volunteer1 is linked to 王奶奶 of 和谐社区. Another family's member, a resident and a
    worker of a different community are refused and nothing changes; a worker of her own
    community (otherworker) is refused too, as she has a chat of her own."""
    chat = Chat(services)
    grandma = await _grandma(services, w)
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(
            s, community_id=w.other_community_id, person_id=grandma, amount=50, key="fund-grandma"
        ),
    )
    soap = await services.run(services.shop.add_item, w.other_worker, w.other_community_id, "肥皂", 10, 5)
    await _link_by_code(chat, "volunteer1", "grandma")
    other_family = await person(services, "nephew", "外甥")
    await _link_by_code(chat, "nephew", "resident1")  # another family
    assert other_family
    before = await snapshot(services)
    said = await chat.say(who, "/as 王奶奶")
    if who == "otherworker":
        assert said.keys == ["error.proxy_own_chat"]
        assert await snapshot(services) == before
        return
    # She is no one they may see: not found in their community, or not family.
    assert said.keys in (["error.no_such_person"], ["error.not_family"]), said.text
    assert await snapshot(services) == before
    with services.db.uow() as session:
        assert session.scalar(select(FamilyLink.id).where(FamilyLink.relative_id == grandma)) is not None
    # Forged: service calls naming the relative directly are refused by the one rule too.
    proxy = await person(services, who)
    with pytest.raises(NotAllowed) as refused:
        await services.run(services.family.act_as, proxy, grandma)
    assert refused.value.key == "error.not_family"
    with pytest.raises(NotAllowed) as refused:
        await services.run(services.shop.redeem, grandma, w.other_community_id, soap.id, 1, proxy_id=proxy)
    assert refused.value.key == "error.not_family"
    assert await snapshot(services) == before


async def test_a_code_is_accepted_once_and_not_by_oneself(services: Services, w: World) -> None:
    chat = Chat(services)
    said = await chat.say("volunteer1", "/family add")
    code = said.text.split("：")[1].split("\n")[0].strip()
    assert (await chat.say("volunteer1", f"/family accept {code}")).keys == ["error.family_self"]
    assert (await chat.say("volunteer2", f"/family accept {code}")).keys == ["family.accepted"]
    assert (await chat.say("resident1", f"/family accept {code}")).keys == ["error.bad_family_code_left"]
    assert (await chat.say("resident1", "/family accept")).keys == ["family.usage"]
    assert (await chat.say("resident1", "/family link volunteer1 张三")).keys == ["error.need_worker"]


async def test_a_gift_key_reused_for_someone_else_is_refused(services: Services, w: World) -> None:
    chat = Chat(services)
    grandma = await _grandma(services, w)
    await _link_by_code(chat, "volunteer1", "grandma")
    await fund(services, w, w.volunteer, 50)
    first = await services.run(services.points.gift, w.volunteer, w.community_id, grandma, 10, "gift-key")
    again = await services.run(services.points.gift, w.volunteer, w.community_id, grandma, 10, "gift-key")
    assert again.replayed and again.id == first.id
    before = await snapshot(services)
    for to, amount in ((w.volunteers[1], 10), (grandma, 11)):
        with pytest.raises(IdempotencyConflict):
            await services.run(services.points.gift, w.volunteer, w.community_id, to, amount, "gift-key")
    assert await snapshot(services) == before


async def test_expiry_notices_reach_the_family_of_a_relative_without_a_phone(
    services: Services, w: World, clock: FixedClock
) -> None:
    chat = Chat(services)
    await chat.say("worker1", "/family link volunteer2 李爷爷")
    await chat.say("worker1", "1")  # yes, register him
    grandpa = await _named(services, w, "李爷爷")
    await fund(services, w, grandpa, 25)  # earned in November 2026: with 1 month, expires on 1 December
    await chat.say("worker1", "/expiry 1")
    await services.run(services.expiry.run, clock.now())
    clock.at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December, 01:00 in Shanghai
    await services.run(services.expiry.run, clock.now())
    mine = [k for k in await notification_keys(services, grandpa) if k.startswith("expiry.")]
    assert mine == ["expiry.notify.soon", "expiry.notify.expired"]
    family = [k for k in await notification_keys(services, w.volunteers[1]) if k.startswith("expiry.")]
    assert family == ["expiry.notify.soon_family", "expiry.notify.expired_family"]
    assert await account(services, w.community_id, grandpa) == (0, 0)
