"""Notifications: written with their cause, taken once, coalesced to one a minute."""

from __future__ import annotations

from datetime import date

from bot.kernel.clock import FixedClock
from bot.services import Services
from tests.world import make_world


async def _log(services: Services, person: int, community: int, category: int) -> int:
    log = await services.run(
        services.hours.submit, person, community, category_id=category, service_date=date(2026, 11, 20), minutes=30
    )
    return log.id


async def test_new_pending_logs_reach_each_worker_once_a_minute(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.run(services.outbox.take, "console")  # set-up chatter
    for volunteer in w.volunteers:
        await _log(services, volunteer, w.community_id, w.categories["探访"])
    first = await services.run(services.outbox.take, "console")
    by_worker = {d.person_id: d for d in first}
    assert set(by_worker) == {w.worker, w.worker2}  # not the other community's worker
    assert all(d.text.key == "notify.pending_logs" and d.count == 3 for d in first)

    await _log(services, w.volunteers[0], w.community_id, w.categories["助餐"])
    assert await services.run(services.outbox.take, "console") == []  # within the minute: held back
    clock.advance(seconds=61)
    later = await services.run(services.outbox.take, "console")
    assert sorted(d.person_id for d in later) == sorted([w.worker, w.worker2])
    assert await services.run(services.outbox.take, "console") == []


async def test_a_delivery_goes_to_the_persons_channel_in_their_language(services: Services) -> None:
    w = await make_world(services)
    log_id = await _log(services, w.volunteer, w.community_id, w.categories["探访"])
    await services.run(services.people.set_locale, w.volunteer, "en")
    await services.run(services.outbox.take, "console")
    await services.run(services.hours.approve, w.worker, log_id)
    assert await services.run(services.outbox.take, "telegram") == []  # the volunteer has no Telegram identity
    [note] = await services.run(services.outbox.take, "console", person_id=w.volunteer)
    assert (note.address, note.locale, note.text.key) == ("volunteer1", "en", "notify.log_approved")
    assert note.text.params == {
        "log": log_id,
        "points": 5,
        "available": 5,
        "date": "2026-11-20",
        "hours": "0.5",
        "category": {"zh-CN": "探访", "en": "Visit"},
    }


async def _linked(services: Services, person_id: int, channel: str, external_id: str) -> None:
    """`external_id` on `channel` joined to `person_id` with /link."""
    _, identity = await services.run(services.people.identify, channel, external_id, display_name=external_id)
    made = await services.run(services.links.new_code, person_id, "console")
    await services.run(services.links.link, identity.id, made.code)


async def test_a_linked_person_is_reached_where_they_wrote_last_whoever_else_writes(
    services: Services, clock: FixedClock
) -> None:
    from bot.messages.notify import notify

    w = await make_world(services)
    a, b = w.worker, w.volunteer
    for person_id, tag in ((a, "a"), (b, "b")):
        await _linked(services, person_id, "telegram", f"t-{tag}")
        await _linked(services, person_id, "wechat", f"w-{tag}")
    await services.run(services.people.identify, "telegram", "t-c", display_name="c")  # two others, one channel each
    await services.run(services.people.identify, "wechat", "w-d", display_name="d")
    await services.run(services.outbox.take, "console")  # set-up chatter
    said = iter(range(1, 100))

    async def writes(channel: str, sender: str) -> None:
        clock.advance(seconds=10)
        await services.run(services.inbox.store, channel, str(next(said)), sender, {})

    await writes("telegram", "t-a")
    await writes("wechat", "w-b")
    await writes("wechat", "w-a")  # a wrote on WeChat last
    await writes("telegram", "t-b")  # b on Telegram
    await writes("telegram", "t-c")  # then others write on both channels
    await writes("wechat", "w-d")

    def two_notes(session: object) -> None:
        for person_id in (a, b):
            notify(
                session,
                services.clock,
                person_id,
                "notify.log_approved",
                log=7,
                points=10,
                available=10,  # type: ignore[arg-type]
                date="2026-11-20",
                category="探访",
                hours="1",
            )

    await services.db.run(services.db.transaction, two_notes)
    on_telegram = await services.run(services.outbox.take, "telegram")
    on_wechat = await services.run(services.outbox.take, "wechat")
    assert [(d.person_id, d.address) for d in on_telegram] == [(b, "t-b")]
    assert [(d.person_id, d.address) for d in on_wechat] == [(a, "w-a")]
