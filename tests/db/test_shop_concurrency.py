"""Stock and points races through the shop service, each task in its own transaction and
connection, on SQLite and PostgreSQL: the guarded stock decrement and the guarded hold must hold
under real concurrency, and every loser gets a typed refusal rather than a lock error."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from bot.kernel.errors import InsufficientPoints, OutOfStock
from bot.services import Services
from bot.shop.service import Outcome
from models import Membership, Person, Redemption, StockMovement
from tests.ledger import ledger_invariants
from tests.shop_helpers import account, count_transfers, fund, stock
from tests.world import World, make_world

BUYERS = 100
LEFT = 5
PRICE = 100


async def _buyers(services: Services, w: World, n: int, points: int) -> list[int]:
    """n volunteers who can each afford `points`, made in one transaction (setup, not the race)."""

    def work(session) -> list[int]:  # type: ignore[no-untyped-def]
        now, ids = services.clock.now(), []
        for i in range(n):
            person = Person(
                display_name=f"买家{i}", locale="zh-CN", is_admin=False, community_id=w.community_id, created_at=now
            )
            session.add(person)
            session.flush()
            session.add(
                Membership(
                    person_id=person.id, community_id=w.community_id, role="volunteer", confirmed=True, joined_at=now
                )
            )
            services.ledger.earn(
                session, community_id=w.community_id, person_id=person.id, amount=points, key=f"fund:{person.id}"
            )
            ids.append(person.id)
        return ids

    return await services.db.run(services.db.transaction, work)


def _split(results: list[object]) -> tuple[list[Outcome], list[BaseException]]:
    return ([r for r in results if isinstance(r, Outcome)], [r for r in results if isinstance(r, BaseException)])


async def test_hundred_buyers_race_for_the_last_five(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    rice = (await services.run(services.shop.add_item, w.worker, w.community_id, "大米5kg", PRICE, LEFT)).id
    buyers = await _buyers(services, w, BUYERS, PRICE)

    started = time.perf_counter()
    results = await asyncio.gather(
        *(services.run(services.shop.redeem, b, w.community_id, rice, 1) for b in buyers), return_exceptions=True
    )
    elapsed = time.perf_counter() - started
    ok, failed = _split(results)
    assert len(ok) == LEFT
    # Every other attempt is the domain refusal, not a lock or pool timeout.
    assert len(failed) == BUYERS - LEFT
    assert all(isinstance(e, OutOfStock) and e.params["left"] == 0 for e in failed), {type(e).__name__ for e in failed}
    assert await stock(services, rice) == 0
    winners = {o.redemption.person_id for o in ok}
    for buyer in buyers:
        assert await account(services, w.community_id, buyer) == (PRICE, PRICE if buyer in winners else 0)
    with services.db.uow() as session:
        reserved = session.scalar(
            select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(StockMovement.kind == "reserve")
        )
        made = session.scalar(select(func.count()).select_from(Redemption))
    assert (reserved, made) == (LEFT, LEFT)
    assert await count_transfers(services, phase="pending") == LEFT
    assert (await services.run(services.shop.reconcile, w.worker, w.community_id)).balanced  # this month
    await ledger_invariants(services)
    print(f"\n{BUYERS} concurrent redemptions of {LEFT} left: {elapsed:.2f}s")


async def test_one_person_thirty_redemptions_beyond_their_balance(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    towel = (await services.run(services.shop.add_item, w.worker, w.community_id, "毛巾", 7, 100)).id
    haircut = (await services.run(services.shop.add_item, w.worker, w.community_id, "理发服务", 7, None)).id
    await fund(services, w, w.volunteer, 70)  # ten redemptions' worth

    results = await asyncio.gather(
        *(
            services.run(services.shop.redeem, w.volunteer, w.community_id, towel if i % 2 else haircut, 1)
            for i in range(30)
        ),
        return_exceptions=True,
    )
    ok, failed = _split(results)
    assert len(ok) == 10
    assert len(failed) == 20 and all(isinstance(e, InsufficientPoints) for e in failed), failed
    posted, pending = await account(services, w.community_id, w.volunteer)
    assert (posted, pending) == (70, 70) and posted - pending == 0
    towels = sum(o.redemption.item_id == towel for o in ok)
    assert await stock(services, towel) == 100 - towels  # refused attempts gave their goods back
    assert await stock(services, haircut) is None
    with services.db.uow() as session:
        reserved = session.scalar(
            select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
                StockMovement.kind == "reserve", StockMovement.item_id == towel
            )
        )
    assert reserved == towels
    await ledger_invariants(services)
