"""The demo's love supermarket: a catalogue with donors, and redemptions in every state a
worker meets (waiting for approval, approved with a pickup code, handed over)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld
    from bot.services import Services

# (name, points, stock or None for no limit, donor)
CATALOGUE = (
    ("大米5kg", 100, 20, "福满仓粮油"),
    ("食用油", 80, 15, "福满仓粮油"),
    ("洗衣液", 50, 30, "家家乐超市"),
    ("毛巾", 20, 50, None),
    ("理发服务", 30, None, "康乐理发店"),
)


async def seed_demo(services: Services, world: DemoWorld) -> None:
    shop, worker, cid = services.shop, world.workers[0], world.community_id
    items = {}
    for name, price, stock, donor in CATALOGUE:
        items[name] = (await services.run(shop.add_item, worker, cid, name, price, stock, donor=donor)).id
    # volunteer1 waits for approval; volunteer3 has a pickup code; volunteer4 has picked up.
    await services.run(shop.redeem, world.volunteers[0], cid, items["毛巾"], 2, request_key="demo:redeem:1")
    approved = await services.run(
        shop.redeem, world.volunteers[2], cid, items["洗衣液"], 1, request_key="demo:redeem:2"
    )
    await services.run(shop.approve, worker, approved.redemption.id)
    done = await services.run(shop.redeem, world.volunteers[3], cid, items["理发服务"], 1, request_key="demo:redeem:3")
    code = (await services.run(shop.approve, world.workers[1], done.redemption.id)).redemption.pickup_code
    assert code is not None
    await services.run(shop.pickup, worker, cid, code)
