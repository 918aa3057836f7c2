"""Points are 64-bit integers end to end: large amounts move through every kind of transfer."""

from __future__ import annotations

import functools

from bot.services import Services
from tests.world import make_world

BIG = 10**12  # beyond 32 bits


async def test_large_amounts_move_through_every_transfer(services: Services) -> None:
    w = await make_world(services)
    tx = functools.partial(services.db.run, services.db.transaction)
    await tx(
        lambda s: services.ledger.earn(
            s, community_id=w.community_id, person_id=w.volunteer, amount=3 * BIG, key="big-earn"
        )
    )
    await services.run(services.points.gift, w.volunteer, w.community_id, w.volunteers[1], BIG, key="big-gift")
    hold = await tx(
        lambda s: services.ledger.hold(
            s, community_id=w.community_id, person_id=w.volunteer, amount=BIG, key="big-hold"
        )
    )
    await tx(lambda s: services.ledger.post(s, pending_id=hold.id, key="big-post"))
    await services.run(
        services.points.adjust, w.worker, w.community_id, w.volunteer, -BIG // 2, "更正", key="big-adjust"
    )
    first = await services.run(services.points.balance, w.volunteer, w.community_id)
    second = await services.run(services.points.balance, w.volunteers[1], w.community_id)
    assert (first.posted, first.pending, first.available) == (BIG // 2, 0, BIG // 2)
    assert second.available == BIG
