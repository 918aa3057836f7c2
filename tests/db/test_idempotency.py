"""A key replays only the request it was first given for."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from bot.kernel.errors import IdempotencyConflict
from bot.services import Services
from models import ServiceLog, Transfer
from tests.world import make_world


async def _count(services: Services, table: type) -> int:
    with services.db.uow() as session:
        return session.scalar(select(func.count()).select_from(table))


async def test_reusing_an_adjustment_key_with_another_reason_is_refused(services: Services) -> None:
    w = await make_world(services)
    first = await services.run(
        services.points.adjust, w.worker, w.community_id, w.volunteer, 30, "活动奖励", key="adj-1"
    )
    again = await services.run(
        services.points.adjust, w.worker, w.community_id, w.volunteer, 30, "活动奖励", key="adj-1"
    )
    assert again.replayed and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await services.run(services.points.adjust, w.worker, w.community_id, w.volunteer, 30, "另一个理由", key="adj-1")
    assert await _count(services, Transfer) == 1
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).available == 30


async def test_a_request_key_never_hands_out_another_persons_log(services: Services) -> None:
    w = await make_world(services)
    kwargs = dict(category_id=w.categories["探访"], service_date=date(2026, 11, 20), minutes=60, request_key="tg:42")
    mine = await services.run(services.hours.submit, w.volunteers[0], w.community_id, **kwargs)
    assert (await services.run(services.hours.submit, w.volunteers[0], w.community_id, **kwargs)).id == mine.id
    with pytest.raises(IdempotencyConflict):
        await services.run(services.hours.submit, w.volunteers[1], w.community_id, **kwargs)
    assert await _count(services, ServiceLog) == 1
