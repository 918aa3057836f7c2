"""Two workers recording the same sign-in sheet at the same moment: one records, the other is
told it is spent, and every ticked person has the hours once (the sheet's row is claimed in the
hours' transaction; on PostgreSQL under a row lock)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.kernel.errors import AlreadyDecided
from bot.services import Services
from models import ServiceLog
from tests.conftest import T0
from tests.world import World

pytestmark = pytest.mark.db


async def test_two_workers_record_one_sheet_once(services: Services, world: World) -> None:
    facts = await services.run(services.paper.print_sheet, world.worker, world.community_id, "义务植树")
    sheet = await services.run(services.paper.open_sheet, world.worker2, world.community_id, facts.token)
    assert sheet.names == ("志愿者1", "志愿者2", "志愿者3")

    async def record(worker: int) -> object:
        try:
            return await services.run(
                services.paper.record_sheet,
                worker,
                world.community_id,
                facts.token,
                list(sheet.people),
                category_id=world.categories["助洁"],
                service_date=T0.date(),
                minutes=60,
            )
        except AlreadyDecided as exc:
            return exc.key

    outcomes = await asyncio.gather(record(world.worker), record(world.worker2))
    assert sorted(map(type, outcomes), key=str) == sorted([list, str], key=str)
    assert "paper.sheet_used" in outcomes
    with services.db.read() as session:
        counted = session.execute(
            select(ServiceLog.person_id, func.count()).group_by(ServiceLog.person_id).order_by(ServiceLog.person_id)
        ).all()
    assert [tuple(r) for r in counted] == [(p, 1) for p in sorted(sheet.people)]
