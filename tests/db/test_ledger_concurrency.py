"""Races through the service layer, each task in its own transaction and connection: the guarded
balance update and the unique keys must hold under real concurrency on both databases."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.hours.service import Decision
from bot.kernel.errors import InsufficientPoints
from bot.ledger.service import TransferResult
from bot.services import Services
from models import Account, Transfer
from tests.world import World, make_world

TASKS = 50
AFFORDABLE = 10
PRICE = 7


async def _fund(services: Services, w: World, person_id: int, amount: int) -> None:
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(
            s, community_id=w.community_id, person_id=person_id, amount=amount, key=f"fund:{person_id}"
        ),
    )


async def _account(services: Services, w: World, person_id: int) -> tuple[int, int]:
    """(posted, pending) as stored, read in a fresh transaction."""
    with services.db.uow() as session:
        row = (
            session.execute(
                select(Account.posted, Account.pending).where(
                    Account.community_id == w.community_id, Account.person_id == person_id
                )
            )
        ).one()
        return row.posted, row.pending


async def _count_transfers(services: Services, **where: object) -> int:
    with services.db.uow() as session:
        stmt = select(func.count()).select_from(Transfer)
        for column, value in where.items():
            stmt = stmt.where(getattr(Transfer, column) == value)
        return session.scalar(stmt)


def _split(results: list[object]) -> tuple[list[object], list[BaseException]]:
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    return ok, failed


async def test_fifty_concurrent_holds_only_ten_fit(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    await _fund(services, w, w.volunteer, AFFORDABLE * PRICE)

    def hold(i: int):
        return services.db.run(
            services.db.transaction,
            lambda s: services.ledger.hold(
                s, community_id=w.community_id, person_id=w.volunteer, amount=PRICE, key=f"race-hold:{i}"
            ),
        )

    results = await asyncio.gather(*(hold(i) for i in range(TASKS)), return_exceptions=True)
    ok, failed = _split(results)
    assert len(ok) == AFFORDABLE
    assert all(isinstance(r, TransferResult) and r.phase == "pending" for r in ok)
    # Anything but the domain refusal (a lock timeout, a pool timeout) is a real failure.
    assert len(failed) == TASKS - AFFORDABLE
    assert all(isinstance(e, InsufficientPoints) for e in failed), {type(e).__name__ for e in failed}
    assert await _account(services, w, w.volunteer) == (AFFORDABLE * PRICE, AFFORDABLE * PRICE)
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).available == 0
    assert await _count_transfers(services, phase="pending") == AFFORDABLE


async def test_same_log_approved_by_twenty_tasks_credits_once(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    log = await services.run(
        services.hours.submit,
        w.volunteer,
        w.community_id,
        category_id=w.categories["助餐"],
        service_date=date(2026, 11, 19),
        minutes=150,
    )
    workers = [w.worker, w.worker2, w.admin]
    results = await asyncio.gather(
        *(services.run(services.hours.approve, workers[i % len(workers)], log.id) for i in range(20)),
        return_exceptions=True,
    )
    ok, failed = _split(results)
    assert failed == []
    assert all(isinstance(d, Decision) and d.log.status == "approved" for d in ok)
    assert sum(d.changed for d in ok) == 1
    balance = await services.run(services.points.balance, w.volunteer, w.community_id)
    assert log.points == 25
    assert (balance.posted, balance.pending) == (log.points, 0)
    assert await _count_transfers(services, kind="earn", ref_id=log.id) == 1


async def test_concurrent_gifts_and_donations_drain_one_account_exactly(services: Services) -> None:
    w = await make_world(services, volunteers=3)
    giver, friend, cousin = w.volunteers
    await _fund(services, w, giver, AFFORDABLE * PRICE)

    def move(i: int):
        if i % 3 == 0:
            return services.run(services.points.donate, giver, w.community_id, PRICE, key=f"race-donate:{i}")
        to = friend if i % 3 == 1 else cousin
        return services.run(services.points.gift, giver, w.community_id, to, PRICE, key=f"race-gift:{i}")

    results = await asyncio.gather(*(move(i) for i in range(TASKS)), return_exceptions=True)
    ok, failed = _split(results)
    assert len(ok) == AFFORDABLE
    assert all(isinstance(e, InsufficientPoints) for e in failed), {type(e).__name__ for e in failed}
    assert await _account(services, w, giver) == (0, 0)
    received = [(await _account(services, w, p))[0] for p in (friend, cousin)]
    with services.db.uow() as session:
        pool = session.scalar(
            select(Account.posted).where(Account.community_id == w.community_id, Account.kind == "pool")
        )
    # Every point that left the giver arrived somewhere, once.
    assert sum(received) + pool == AFFORDABLE * PRICE
    gifts, donations = (sum(r.kind == kind for r in ok) for kind in ("gift", "donate"))
    assert (sum(received), pool) == (gifts * PRICE, donations * PRICE)


async def test_a_connection_back_in_the_pool_never_keeps_the_write_lock(services: Services) -> None:
    """SQLite: the pool sends no blanket ROLLBACK on return (a round trip per unit of work), so
    a connection returned mid-transaction, as by a cancelled task, must be rolled back then."""
    if not services.db.sqlite:
        pytest.skip("SQLite's write lock")
    w = await make_world(services, volunteers=1)
    pooled = services.db.engine.raw_connection()
    driver = pooled.driver_connection
    driver.execute("BEGIN IMMEDIATE")
    pooled.close()
    assert not driver.in_transaction
    # Another writer gets the lock at once (it would wait out busy_timeout otherwise).
    await asyncio.wait_for(_fund(services, w, w.volunteer, 5), timeout=5)
    assert await _account(services, w, w.volunteer) == (5, 0)
