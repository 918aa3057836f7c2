"""The demo's tags and team: a few party members (two agreed to the 党员 list), two young
volunteers, and a party-member vanguard team led by volunteer1, all three lists posted weekly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.services import Services

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld

TEAM = "党员先锋队"


async def seed_demo(services: Services, world: DemoWorld) -> None:
    teams, worker, v = services.teams, world.workers[0], world.volunteers
    for person, tag in ((v[0], "党员"), (v[1], "党员"), (v[2], "党员"), (v[3], "青年"), (v[4], "青年")):
        await services.run(teams.tag, worker, world.community_id, person, tag)
    for person in (v[0], v[2]):  # volunteer2 carries the tag but has not agreed to the list
        await services.run(teams.set_tag_shown, person, world.community_id, "党员", True)
    await services.run(teams.create_team, worker, world.community_id, TEAM)
    await services.run(teams.change_members, worker, world.community_id, TEAM, [v[0], v[1], v[3]], add=True)
    await services.run(teams.set_leader, worker, world.community_id, TEAM, v[0])
    await services.run(teams.set_star_lists, worker, world.community_id, ["总榜", "党员", TEAM])
