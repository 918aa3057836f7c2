"""/balance's lifetime points and hours are stored on the account row, not summed per read.
After any mix of logs approved, recorded, rejected, approved twice, unpaid (a category worth
no points), gifts and corrections, the stored totals equal the sums over transfers and logs;
and migration 0012 fills them in for a database that had only the rows."""

from __future__ import annotations

import random
from datetime import date, timedelta

from alembic import command
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Connection

from bot.kernel.db import make_engine
from bot.kernel.errors import InsufficientPoints
from bot.kernel.migrate import alembic_config, foreign_keys_off, upgrade
from bot.services import Services
from models import ServiceCategory
from tests.world import World, make_world

TODAY = date(2026, 11, 20)  # the test clock's day in Shanghai

SUMS = text("""
    SELECT a.id, a.person_id, a.earned_points, a.earned_minutes,
      coalesce((SELECT sum(l.points) FROM service_logs l WHERE l.person_id = a.person_id
                AND l.community_id = a.community_id AND l.status = 'approved'), 0) AS points_sum,
      coalesce((SELECT sum(l.minutes) FROM service_logs l WHERE l.person_id = a.person_id
                AND l.community_id = a.community_id AND l.status = 'approved'), 0) AS minutes_sum
    FROM accounts a WHERE a.kind = 'person' AND a.community_id = :c ORDER BY a.person_id
""")
# Approved hours of someone without a person account would be missing from every stored total.
ORPHANS = text("""
    SELECT count(*) FROM service_logs l WHERE l.status = 'approved' AND NOT EXISTS (
      SELECT 1 FROM accounts a WHERE a.kind = 'person' AND a.community_id = l.community_id
      AND a.person_id = l.person_id)
""")


async def check(services: Services, w: World) -> dict[int, tuple[int, int]]:
    """Stored totals equal the sums, and /balance shows them; returns person -> (points, minutes)."""
    with services.db.read() as session:
        rows = session.execute(SUMS, {"c": w.community_id}).all()
        assert session.execute(ORPHANS).scalar_one() == 0
    for r in rows:
        assert (r.earned_points, r.earned_minutes) == (r.points_sum, r.minutes_sum), f"person {r.person_id}"
        balance = await services.run(services.points.balance, r.person_id, w.community_id)
        assert (balance.earned_points, balance.earned_minutes) == (r.points_sum, r.minutes_sum)
    return {r.person_id: (r.points_sum, r.minutes_sum) for r in rows}


async def unpaid_category(services: Services, w: World) -> int:
    """A category worth no points: approving its hours posts no transfer at all."""
    category = w.categories["其他"]
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(update(ServiceCategory).where(ServiceCategory.id == category).values(points_per_hour=0)),
    )
    return category


async def test_stored_totals_equal_the_sums_after_any_sequence(services: Services) -> None:
    w = await make_world(services, volunteers=3)
    free = await unpaid_category(services, w)
    categories = [w.categories["探访"], w.categories["助餐"], free]
    rng = random.Random(11)
    logged: dict[tuple[int, date], int] = {}
    pending: list[int] = []
    approved: list[int] = []
    for step in range(40):
        roll = rng.random()
        who = rng.choice(w.volunteers)
        day = TODAY - timedelta(days=rng.randrange(0, 10))
        minutes = 15 * rng.randrange(1, 9)
        if roll < 0.45 and logged.get((who, day), 0) + minutes <= 16 * 60:
            logged[who, day] = logged.get((who, day), 0) + minutes
            log = await services.run(
                services.hours.submit,
                who,
                w.community_id,
                category_id=rng.choice(categories),
                service_date=day,
                minutes=minutes,
            )
            pending.append(log.id)
        elif roll < 0.55 and logged.get((who, day), 0) + minutes <= 16 * 60:  # recorded: approved at once
            logged[who, day] = logged.get((who, day), 0) + minutes
            await services.run(
                services.hours.record,
                w.worker,
                w.community_id,
                [who],
                category_id=rng.choice(categories),
                service_date=day,
                minutes=minutes,
            )
        elif roll < 0.75 and pending:
            log_id = pending.pop(rng.randrange(len(pending)))
            if rng.random() < 0.8:
                await services.run(services.hours.approve, w.worker, log_id)
                approved.append(log_id)
            else:
                await services.run(services.hours.reject, w.worker, log_id, "not this day")
        elif roll < 0.85 and approved:  # a second press: nothing more is counted
            again = await services.run(services.hours.approve, w.worker2, rng.choice(approved))
            assert not again.changed
        elif roll < 0.95:  # points that move but are not earned
            giver, taker = rng.sample(w.volunteers, 2)
            try:
                await services.run(services.points.gift, giver, w.community_id, taker, rng.randrange(1, 5), f"g{step}")
            except InsufficientPoints:
                pass
        else:
            await services.run(
                services.points.adjust, w.worker, w.community_id, who, rng.randrange(1, 9), "bonus", f"a{step}"
            )
        await check(services, w)
    totals = await check(services, w)
    assert any(minutes for _, minutes in totals.values()), "the sequence approved no hours at all"


async def test_hours_worth_no_points_still_count(services: Services) -> None:
    w = await make_world(services, volunteers=1)
    free = await unpaid_category(services, w)
    log = await services.run(
        services.hours.submit, w.volunteer, w.community_id, category_id=free, service_date=TODAY, minutes=60
    )
    await services.run(services.hours.approve, w.worker, log.id)
    balance = await services.run(services.points.balance, w.volunteer, w.community_id)
    assert (balance.posted, balance.earned_points, balance.earned_minutes) == (0, 0, 60)


def _downgrade_to_0007(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.downgrade(config, "0007")


async def test_migration_0012_backfills_the_totals(services: Services, database_url: str) -> None:
    w = await make_world(services, volunteers=3)
    free = await unpaid_category(services, w)
    first, second, unpaid = w.volunteers
    for who, category, minutes in (
        (first, w.categories["探访"], 90),
        (first, free, 30),
        (second, free, 45),
        (second, w.categories["助餐"], 60),
        (unpaid, free, 75),
    ):
        log = await services.run(
            services.hours.submit, who, w.community_id, category_id=category, service_date=TODAY, minutes=minutes
        )
        await services.run(services.hours.approve, w.worker, log.id)
    rejected = await services.run(
        services.hours.submit, first, w.community_id, category_id=w.categories["助餐"], service_date=TODAY, minutes=120
    )
    await services.run(services.hours.reject, w.worker, rejected.id, "not this day")
    await services.run(services.points.gift, first, w.community_id, second, 5, "gift")
    before = await check(services, w)
    assert (before[first], before[second], before[unpaid]) == ((15, 120), (10, 105), (0, 75))

    engine = make_engine(database_url)
    try:
        # Going down to 0007 passes back through 0013, whose SQLite table rebuilds need the keys off.
        with engine.connect() as connection, foreign_keys_off(connection), connection.begin():
            _downgrade_to_0007(connection, database_url)
            assert "earned_points" not in {c["name"] for c in inspect(connection).get_columns("accounts")}
            # Before 0012, hours worth no points opened no account: the migration opens one.
            gone = connection.execute(
                text("DELETE FROM accounts WHERE kind = 'person' AND person_id = :p"), {"p": unpaid}
            )
            assert gone.rowcount == 1
    finally:
        engine.dispose()
    await upgrade(database_url)
    services.ledger._account_ids.clear()  # the reopened account has a new id
    assert await check(services, w) == before
