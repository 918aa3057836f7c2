"""The core journey through the services: join, log, approve, balance."""

from __future__ import annotations

from datetime import date

from bot.services import Services
from tests.world import make_world


async def test_log_approve_credits_points_once(services: Services) -> None:
    w = await make_world(services)
    log = await services.run(
        services.hours.submit,
        w.volunteer,
        w.community_id,
        category_id=w.categories["探访"],
        service_date=date(2026, 11, 20),
        minutes=90,
    )
    assert log.status == "pending" and log.points == 15
    first = await services.run(services.hours.approve, w.worker, log.id)
    again = await services.run(services.hours.approve, w.worker2, log.id)
    assert first.changed and not again.changed
    balance = await services.run(services.points.balance, w.volunteer, w.community_id)
    assert (balance.posted, balance.pending, balance.available) == (15, 0, 15)
    assert (balance.earned_points, balance.earned_minutes) == (15, 90)
