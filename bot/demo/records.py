"""The demo's records an office stands behind (issue 22): every elder's consent as the workers
obtained it, and 孙大爷 (resident1) helped by his neighbour's granddaughter 王芳, whom he linked
as family with a code in his own chat: she acts for him (`/as`), redeems and asks for a service
for him and calls it off again; the workers credit, approve and hand over, so `/audit 孙大爷`
shows proxy actions and approvals. Nothing here touches anyone else's points or the board."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.kernel.clock import days_after
from bot.requests.service import NewRequest

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld
    from bot.services import Services

WAYS = ("in_person", "phone", "family")


async def seed_demo(services: Services, world: DemoWorld) -> None:
    cid, (zhang, li), wang, grandpa = world.community_id, world.workers, world.volunteers[0], world.resident
    roster = services.visits.roster
    elders, _ = await services.run(roster.roster, zhang, cid, page_size=100)
    for n, elder in enumerate(elders):  # volunteers' consents come with their registration
        await services.run(roster.record_consent, elder.worker_id or zhang, elder.id, WAYS[n % len(WAYS)])
    await services.run(services.family.accept, grandpa, await services.run(services.family.offer, wang))
    await services.run(services.points.adjust, zhang, cid, grandpa, 30, "重阳节慰问积分", "demo:records:adjust")
    await services.run(services.family.act_as, wang, grandpa)
    towel = next(i for i in await services.run(services.shop.catalogue, zhang, cid) if i.name == "毛巾")
    order = await services.run(
        services.shop.redeem, grandpa, cid, towel.id, 1, request_key="demo:records:redeem", proxy_id=wang
    )
    approved = await services.run(services.shop.approve, li, order.redemption.id)
    assert approved.redemption.pickup_code is not None
    await services.run(services.shop.pickup, zhang, cid, approved.redemption.pickup_code)
    category = {c.name: c.id for c in await services.run(services.hours.categories, cid)}
    today = services.clock.community(services.settings.timezone).today()
    asked = await services.run(
        services.requests.post,
        NewRequest(
            requester_id=grandpa,
            poster_id=wang,
            community_id=cid,
            category_id=category["助医"],
            service_date=days_after(today, 2),
            slot="morning",
            minutes=120,
            payer="community",
            note="陪孙大爷去社区医院量血压",
            address="阳光里7栋302",
            request_key="demo:records:request",
        ),
    )
    await services.run(services.requests.cancel, wang, asked.request.id)  # his daughter will go with him after all
    await services.run(services.family.act_as_self, wang)
