"""Demo service requests for `lovebank demo`: one on the board for anyone to take, one already
taken, and one waiting for a worker to pay it from the pool."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.kernel.clock import days_after
from bot.requests.service import NewRequest
from bot.services import Services

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld


async def seed_demo(services: Services, world: DemoWorld) -> None:
    cid = world.community_id
    category = {c.name: c.id for c in await services.run(services.hours.categories, cid)}
    grids = {name: gid for gid, name in await services.run(services.requests.grids, cid)}
    today = services.clock.community(services.settings.timezone).today()
    asker, helper, donor = world.volunteers[2], world.volunteers[0], world.volunteers[4]
    await services.run(services.points.donate, donor, cid, 30, "demo:donate")

    def ask(who: int, name: str, days: int, minutes: int, payer: str, note: str, address: str) -> NewRequest:
        return NewRequest(
            requester_id=who,
            poster_id=who,
            community_id=cid,
            category_id=category[name],
            service_date=days_after(today, days),
            slot="morning",
            minutes=minutes,
            payer=payer,
            note=note,
            address=address,
            grid_id=grids.get("一网格"),
            request_key=f"demo:request:{note}",
        )

    await services.run(
        services.requests.post, ask(world.resident, "助洁", 2, 120, "community", "擦窗户、拖地", "阳光里7栋302")
    )
    taken = await services.run(services.requests.post, ask(asker, "家政", 1, 60, "own", "换个灯泡", "阳光里4栋201"))
    await services.run(services.requests.take, helper, taken.request.id)
    await services.run(
        services.requests.post, ask(world.resident, "助医", 3, 180, "pool", "陪去区医院复查", "阳光里7栋302")
    )
