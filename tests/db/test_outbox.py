"""Notifications: written with their cause, taken once, coalesced to one a minute."""

from __future__ import annotations

from datetime import date

from bot.clock import FixedClock
from bot.services import Services
from tests.world import make_world


async def _log(services: Services, person: int, community: int, category: int) -> int:
    log = await services.hours.submit(person, community, category_id=category, service_date=date(2026, 11, 20), minutes=30)
    return log.id


async def test_new_pending_logs_reach_each_worker_once_a_minute(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.outbox.take("console")  # set-up chatter
    for volunteer in w.volunteers:
        await _log(services, volunteer, w.community_id, w.categories["探访"])
    first = await services.outbox.take("console")
    by_worker = {d.person_id: d for d in first}
    assert set(by_worker) == {w.worker, w.worker2}  # not the other community's worker
    assert all(d.text.key == "notify.pending_logs" and d.count == 3 for d in first)

    await _log(services, w.volunteers[0], w.community_id, w.categories["助餐"])
    assert await services.outbox.take("console") == []  # within the minute: held back
    clock.advance(seconds=61)
    later = await services.outbox.take("console")
    assert sorted(d.person_id for d in later) == sorted([w.worker, w.worker2])
    assert await services.outbox.take("console") == []


async def test_a_delivery_goes_to_the_persons_channel_in_their_language(services: Services) -> None:
    w = await make_world(services)
    log_id = await _log(services, w.volunteer, w.community_id, w.categories["探访"])
    await services.people.set_locale(w.volunteer, "en")
    await services.outbox.take("console")
    await services.hours.approve(w.worker, log_id)
    assert await services.outbox.take("telegram") == []  # the volunteer has no Telegram identity
    [note] = await services.outbox.take("console", person_id=w.volunteer)
    assert (note.address, note.locale, note.text.key) == ("volunteer1", "en", "notify.log_approved")
    assert note.text.params == {"log": log_id, "points": 5, "available": 5, "date": "2026-11-20", "hours": "0.5",
                                "category": {"zh-CN": "探访", "en": "Visit"}}
