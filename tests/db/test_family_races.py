"""Races through the services, each task in its own transaction and connection (real concurrency
on PostgreSQL; SQLite queues the writers): a family member and the relative spending the same
points at once, two workers approving the same move, and two accepting it."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.kernel.errors import InsufficientPoints
from bot.moves.service import MoveOutcome
from bot.services import Services
from bot.shop.service import Outcome
from models import AuditEntry, Transfer
from tests.ledger import ledger_invariants
from tests.shop_helpers import account, fund
from tests.world import make_world, person

ROUNDS = 10


async def test_member_and_relative_spend_the_same_points_at_once(services: Services) -> None:
    w = await make_world(services)
    grandma = await person(services, "grandma", "王奶奶")
    code = await services.run(services.people.create_invite, w.worker, w.community_id, role="resident")
    await services.run(services.people.join, grandma, code)
    # She has a chat of her own: her grandson acts for her once she accepted his code.
    await services.run(services.family.accept, grandma, await services.run(services.family.offer, w.volunteer))
    rice = await services.run(services.shop.add_item, w.worker, w.community_id, "大米", 80, None)
    for round_ in range(ROUNDS):
        await services.db.run(
            services.db.transaction,
            lambda s, r=round_: services.ledger.earn(  # 100, then 80 more a round
                s, community_id=w.community_id, person_id=grandma, amount=100 if r == 0 else 80, key=f"fund-{r}"
            ),
        )
        # She redeems in her own chat while her grandson redeems for her: 80 each.
        results = await asyncio.gather(
            services.run(services.shop.redeem, grandma, w.community_id, rice.id, 1, request_key=f"self-{round_}"),
            services.run(
                services.shop.redeem,
                grandma,
                w.community_id,
                rice.id,
                1,
                request_key=f"proxy-{round_}",
                proxy_id=w.volunteer,
            ),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, Outcome)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], InsufficientPoints), results
        posted, pending = await account(services, w.community_id, grandma)
        assert posted - pending >= 0
    posted, pending = await account(services, w.community_id, grandma)
    assert pending == 80 * ROUNDS and posted - pending == 20
    await ledger_invariants(services, w.community_id)


async def test_two_workers_approve_and_two_accept_the_same_move(services: Services) -> None:
    w = await make_world(services)
    other_worker2 = await person(services, "otherworker2", "赵社工")
    await services.run(services.people.appoint_worker, w.admin, w.other_community_id, other_worker2)
    for round_, volunteer in enumerate(w.volunteers):
        await fund(services, w, volunteer, 50 + round_)
        move = await services.run(services.moves.request, volunteer, w.community_id, "和谐社区")
        approvals = await asyncio.gather(
            services.run(services.moves.approve, w.worker, move.id),
            services.run(services.moves.approve, w.worker2, move.id),
        )
        assert sorted(a.changed for a in approvals) == [False, True]
        assert all(a.move.status == "approved" for a in approvals)
        accepts = await asyncio.gather(
            services.run(services.moves.approve, w.other_worker, move.id),
            services.run(services.moves.approve, other_worker2, move.id),
            return_exceptions=True,
        )
        assert all(isinstance(a, MoveOutcome) for a in accepts), accepts
        assert sorted(a.changed for a in accepts) == [False, True]  # type: ignore[union-attr]
        assert await account(services, w.community_id, volunteer) == (0, 0)
        assert await account(services, w.other_community_id, volunteer) == (50 + round_, 0)
        with services.db.uow() as session:
            legs = session.scalar(
                select(func.count())
                .select_from(Transfer)
                .where(Transfer.ref_type == "move", Transfer.ref_id == move.id)
            )
            decided = list(
                session.scalars(
                    select(AuditEntry.action).where(AuditEntry.subject_type == "move", AuditEntry.subject_id == move.id)
                )
            )
        assert legs == 2  # out of the old community and into the new one, once
        assert sorted(decided) == ["relocation.accept", "relocation.approve", "relocation.request"]
    for community in (w.community_id, w.other_community_id, None):
        await ledger_invariants(services, community)
