"""One person across channels: /link gives a one-time code, the other channel types it, and
the two identities are one person (one balance, one history, one set of roles); refused with
nothing changed when both sides have activity, and for a wrong, used, expired or same-channel code."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import Identity, LinkCode, Membership, Person
from tests.dialogs.chat import Chat
from tests.world import World


def code_of(text: str) -> str:
    return re.search(r"/link ([A-Z0-9]{6})", text).group(1)


async def earn(services: Services, world: World, person_id: int) -> None:
    log = await services.run(
        services.hours.submit,
        person_id,
        world.community_id,
        category_id=world.categories["探访"],
        service_date=services.clock.now().date(),
        minutes=60,
    )
    await services.run(services.hours.approve, world.worker, log.id)


async def counts(services: Services) -> tuple[int, int, int]:
    with services.db.read() as session:
        s = session
        return (
            s.scalar(select(func.count()).select_from(Person)),
            s.scalar(select(func.count()).select_from(Identity)),
            s.scalar(select(func.count()).select_from(Membership)),
        )


async def test_wechat_joins_the_telegram_volunteer(services: Services, world: World, dialogs) -> None:
    telegram = Chat(dialogs, "volunteer1")  # the console volunteer1 has the history here
    wechat = Chat(dialogs, "oWeChat-v1", channel="wechat")
    await earn(services, world, world.volunteer)
    await wechat.say("/help")  # first contact on WeChat: a new, empty person
    code = code_of(await telegram.say("/link"))
    done = await wechat.say(f"/link {code}")
    assert wechat.keys() == ["link.done"] and "志愿者1" in done
    assert await wechat.say("/balance") == await telegram.say("/balance")  # one balance
    assert "/log" in await wechat.say("/help")  # one set of roles: a volunteer on WeChat too
    with services.db.read() as session:
        owners = set(
            session.scalars(select(Identity.person_id).where(Identity.external_id.in_(["volunteer1", "oWeChat-v1"])))
        )
    assert owners == {world.volunteer}
    # Used once.
    assert "过期" in await Chat(dialogs, "oOther", channel="wechat").say(f"/link {code}")


async def test_the_side_with_history_survives(services: Services, world: World, dialogs) -> None:
    """The side with activity survives, whichever made the code; the empty WeChat person folds in."""
    people_before, _, _ = await counts(services)
    console = Chat(dialogs, "volunteer2")
    fresh = Chat(dialogs, "oFresh", channel="wechat")
    await earn(services, world, world.volunteers[1])
    await fresh.say("/help")
    code = code_of(await fresh.say("/link"))  # the empty side makes the code
    await console.say(f"/link {code}")
    assert console.keys() == ["link.done"]
    people_after, _, _ = await counts(services)
    assert "/log" in await fresh.say("/help")
    with services.db.read() as session:
        assert session.scalar(select(Identity.person_id).where(Identity.external_id == "oFresh")) == world.volunteers[1]
    assert people_after == people_before  # the empty person made on first contact is gone


async def test_both_with_activity_refused_and_nothing_changes(services: Services, world: World, dialogs) -> None:
    first, second = Chat(dialogs, "volunteer1"), Chat(dialogs, "oBusy", channel="wechat")
    await earn(services, world, world.volunteer)
    await second.say("/help")  # a separate person on WeChat, who then gets a history of their own
    code = code_of(await first.say("/link"))
    with services.db.read() as session:
        second_id = session.scalar(select(Identity.person_id).where(Identity.external_id == "oBusy"))
    await services.run(
        services.people.join,
        second_id,
        await services.run(services.people.create_invite, world.worker, world.community_id),
    )
    await services.run(services.people.register_volunteer, second_id, world.community_id, "另一个人", "13900000000")
    await earn(services, world, second_id)
    before = await counts(services)
    text = await second.say(f"/link {code}")
    assert second.keys() == ["link.both_active"] and "没有任何改动" in text
    assert await counts(services) == before
    with services.db.read() as session:  # the code was not spent by the refusal
        assert session.scalar(select(LinkCode.used_at).where(LinkCode.code == code)) is None


async def test_wrong_expired_same_channel_and_self(
    services: Services, world: World, dialogs, clock: FixedClock
) -> None:
    me = Chat(dialogs, "volunteer1")
    code = code_of(await me.say("/link"))
    await me.say(f"/link {code}")
    assert me.keys() == ["link.already"]
    other_console = Chat(dialogs, "stranger")
    await other_console.say(f"/link {code}")
    assert other_console.keys() == ["link.other_channel"]
    wechat = Chat(dialogs, "oLate", channel="wechat")
    await wechat.say("/link ZZZZZZ")
    assert wechat.keys() == ["link.bad_code_left"]
    clock.advance(minutes=11)
    before = await counts(services)
    await wechat.say(f"/link {code.lower()}")
    assert wechat.keys() == ["link.bad_code_left"]
    assert await counts(services) == before
    # A new code replaces the old one.
    first = code_of(await me.say("/link"))
    second = code_of(await me.say("/link"))
    await wechat.say(f"/link {first}")
    assert first != second and wechat.keys() == ["link.bad_code_left"]
    await wechat.say(f"/link {second}")
    assert wechat.keys() == ["link.done"]
