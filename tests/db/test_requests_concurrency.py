"""Races on a service request, each contender in its own transaction and connection (on SQLite
and, when configured, PostgreSQL): the first taker wins and every other gets a clean refusal;
a request confirmed, settled and cancelled at once pays or releases exactly once."""

from __future__ import annotations

import asyncio
from datetime import date

from bot.kernel.clock import FixedClock
from bot.kernel.errors import AlreadyDecided
from bot.requests.service import NewRequest, Outcome
from bot.services import Services
from models import Membership, Person
from tests.ledger import ledger_invariants
from tests.shop_helpers import account, fund
from tests.world import World, make_world

TAKERS = 20


async def _volunteers(services: Services, w: World, n: int) -> list[int]:
    def work(session) -> list[int]:  # type: ignore[no-untyped-def]
        now, ids = services.clock.now(), []
        for i in range(n):
            person = Person(
                display_name=f"热心人{i}", locale="zh-CN", is_admin=False, community_id=w.community_id, created_at=now
            )
            session.add(person)
            session.flush()
            session.add(
                Membership(
                    person_id=person.id, community_id=w.community_id, role="volunteer", confirmed=True, joined_at=now
                )
            )
            ids.append(person.id)
        return ids

    return await services.db.run(services.db.transaction, work)


async def _request(services: Services, w: World) -> int:
    await fund(services, w, w.resident, 100)
    return (
        await services.run(
            services.requests.post,
            NewRequest(
                requester_id=w.resident,
                poster_id=w.resident,
                community_id=w.community_id,
                category_id=w.categories["助洁"],
                service_date=date(2026, 11, 22),
                slot="morning",
                minutes=120,
            ),
        )
    ).request.id


async def test_twenty_volunteers_take_the_same_request_and_exactly_one_wins(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    request_id = await _request(services, w)
    takers = await _volunteers(services, w, TAKERS)
    results = await asyncio.gather(
        *(services.run(services.requests.take, t, request_id) for t in takers), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, Outcome)]
    lost = [r for r in results if not isinstance(r, Outcome)]
    assert len(won) == 1 and won[0].changed
    assert len(lost) == TAKERS - 1
    assert all(isinstance(e, AlreadyDecided) and e.key == "error.request_taken" for e in lost), lost
    view = await services.run(services.requests.get, w.worker, request_id)
    assert (view.status, view.taker_id) == ("taken", won[0].request.taker_id)
    notes = await services.run(services.outbox.take, "console", person_id=w.resident)
    assert [n.text.key for n in notes] == ["requests.notify.taken"]  # told once, of the winner


async def test_accept_settle_and_cancel_at_once_resolve_the_hold_once(services: Services, clock: FixedClock) -> None:
    w = await make_world(services, volunteers=1)
    request_id = await _request(services, w)
    await services.run(services.requests.take, w.volunteer, request_id)
    await services.run(services.requests.done, w.volunteer, request_id, 120)
    clock.advance(days=3)  # unanswered: the workers may settle while the requester confirms
    results = await asyncio.gather(
        services.run(services.requests.accept, w.resident, request_id),
        services.run(services.requests.accept, w.worker, request_id),
        services.run(services.requests.settle, w.worker, request_id, 20),
        services.run(services.requests.settle, w.worker2, request_id, None),
        services.run(services.requests.cancel, w.resident, request_id),
        return_exceptions=True,
    )
    changed = [r for r in results if isinstance(r, Outcome) and r.changed]
    assert len(changed) == 1, results
    assert all(isinstance(r, (Outcome, AlreadyDecided)) for r in results), results
    final = changed[0].request
    paid = final.paid or 0
    assert await account(services, w.community_id, w.volunteer) == (paid, 0)
    assert await account(services, w.community_id, w.resident) == (100 - paid, 0)
    await ledger_invariants(services)
