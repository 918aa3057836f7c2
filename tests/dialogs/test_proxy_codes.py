"""One-time codes cannot be guessed (issue 21, item 4) and `/family link` finds the roster's
elders before registering anyone (item 5), through the console chat."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Elder, FamilyLink, Identity, Notification, Person
from tests.dialogs.chat import Chat
from tests.ledger import ledger_invariants
from tests.shop_helpers import fund
from tests.world import World


def _code(text: str) -> str:
    return re.search(r"/(?:link|family accept) ([A-Z0-9]{6,8})", text).group(1)


async def _wrong_codes(services: Services, action: str) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


async def test_four_hundred_link_guesses_are_locked_out_and_audited(
    services: Services,
    world: World,
    dialogs,
    clock: FixedClock,
) -> None:
    me, thief = Chat(dialogs, "volunteer1"), Chat(dialogs, "oThief", channel="wechat")
    code = _code(await me.say("/link"))
    keys = []
    for i in range(400):
        guess = f"{i:06d}" if i < 399 else code  # the last one is the right code
        await thief.say(f"/link {guess}")
        keys.extend(thief.keys())
    assert keys[:9] == ["link.bad_code_left"] * 9  # the tenth wrong code locks the thief out
    assert set(keys[9:]) == {"link.locked"}  # the right code too: nothing is looked up meanwhile
    assert "10 分钟后再试" in await thief.say(f"/link {code}")
    with services.db.read() as session:  # none succeeded: the thief's identity is still its own
        owner = session.scalar(select(Identity.person_id).where(Identity.external_id == "oThief"))
    assert owner != world.volunteer
    assert await _wrong_codes(services, "identity.wrong_code") == 10
    # The lock-out passes with its window; the owner's own second channel then links.
    clock.advance(minutes=11)
    code = _code(await me.say("/link"))
    own = Chat(dialogs, "oMine", channel="wechat")
    await own.say(f"/link {code}")
    assert own.keys() == ["link.done"]
    await ledger_invariants(services)


async def test_a_mistyped_link_code_does_not_stand_in_the_way(
    services: Services,
    world: World,
    dialogs,
) -> None:
    """A wrong code is audited against the person typing it, and is not activity of theirs: a
    new channel that mistyped once still joins the person with points."""
    await fund(services, world, world.volunteer, 30)
    me, wechat = Chat(dialogs, "volunteer1"), Chat(dialogs, "oNew", channel="wechat")
    code = _code(await me.say("/link"))
    await wechat.say("/link ZZZZZZ")
    assert wechat.keys() == ["link.bad_code_left"]
    await wechat.say(f"/link {code}")
    assert wechat.keys() == ["link.done"]
    with services.db.read() as session:
        actors = set(session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "identity.wrong_code")))
    assert actors == {world.volunteer}


async def test_family_codes_expire_and_wrong_ones_are_limited(
    services: Services,
    world: World,
    chat,
    clock: FixedClock,
) -> None:
    member, relative, thief = chat("volunteer1"), chat("resident1"), chat("volunteer3")
    code = _code(await member.say("/family add"))
    clock.advance(hours=49)
    await relative.say(f"/family accept {code}")
    assert relative.keys() == ["error.bad_family_code_left"]
    code = _code(await member.say("/family add"))
    for i in range(12):
        await thief.say(f"/family accept ZZZZZZ{i:02d}")
    assert thief.keys() == ["error.family_code_locked"]
    await thief.say(f"/family accept {code}")
    assert thief.keys() == ["error.family_code_locked"]  # locked out: the right code is not tried
    # Counted per person: her expired code, and the thief's ten wrong ones (then locked out).
    assert await _wrong_codes(services, "kin.wrong_code") == 11
    await relative.say(f"/family accept {code}")
    assert relative.keys() == ["family.accepted"]
    assert [(v.member_id, v.relative_id) for v in await services.run(services.family.links, world.resident)] == [
        (world.volunteer, world.resident)
    ]


async def _elder(services: Services, world: World, name: str, year: str) -> int:
    elder = await services.run(
        services.visits.roster.add_elder,
        world.worker,
        world.community_id,
        {"name": name, "birth_year": year, "address": "幸福里1栋101", "lives_alone": "是"},
    )
    return elder.id


async def _people_named(services: Services, name: str) -> list[int]:
    with services.db.read() as session:
        return list(session.scalars(select(Person.id).where(Person.display_name == name)))


async def test_family_link_finds_the_elder_on_the_roster(services: Services, world: World, chat) -> None:
    elder_id = await _elder(services, world, "王秀英", "1938")
    worker = chat("worker1")
    said = await worker.say("/family link volunteer2 王秀英")
    assert worker.keys() == ["family.linked"], said
    [wang] = await _people_named(services, "王秀英")
    with services.db.read() as session:
        assert session.get(Elder, elder_id).person_id == wang
    # A second relative links to the same elder, not to a second 王秀英.
    await worker.say("/family link volunteer3 王秀英")
    assert worker.keys() == ["family.linked"]
    with services.db.read() as session:  # her family so far hears of the new one
        note = session.scalar(
            select(Notification).where(
                Notification.person_id == world.volunteers[1], Notification.key == "family.notify.new_family"
            )
        )
    assert note.params == {"name": "志愿者3", "relative": "王秀英"}
    assert await _people_named(services, "王秀英") == [wang]
    with services.db.read() as session:
        assert sorted(session.scalars(select(FamilyLink.member_id).where(FamilyLink.relative_id == wang))) == [
            world.volunteers[1],
            world.volunteers[2],
        ]
    # The worker acts for her, as for anyone without a chat of their own.
    await worker.say("/as 王秀英")
    assert worker.keys() == ["as.now"]


async def test_family_link_asks_before_registering_and_between_two_elders(
    services: Services,
    world: World,
    chat,
) -> None:
    first, second = await _elder(services, world, "李桂兰", "1940"), await _elder(services, world, "李桂兰", "1945")
    worker = chat("worker1")
    await worker.say("/family link volunteer2 李桂兰")
    assert worker.keys() == ["family.which_elder"]
    assert worker.options() == [
        f"/family link #{world.volunteers[1]} E{first}",
        f"/family link #{world.volunteers[1]} E{second}",
    ]
    await worker.say("2")
    assert worker.keys() == ["family.linked"]
    with services.db.read() as session:
        assert session.get(Elder, second).person_id is not None and session.get(Elder, first).person_id is None
    # A name nobody has: asked first; "no" registers nobody.
    said = await worker.say("/family link volunteer2 赵大妈")
    assert worker.keys() == ["family.ask_register"] and "赵大妈" in said
    await worker.say("取消")
    assert await _people_named(services, "赵大妈") == []
    await worker.say("/family link volunteer2 赵大妈")
    await worker.say("1")
    assert worker.keys() == ["family.linked_new"]
    assert len(await _people_named(services, "赵大妈")) == 1
