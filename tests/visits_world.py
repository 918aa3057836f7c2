"""A community with an elder roster, as the visit tests need it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from openpyxl import Workbook

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.services import Services
from tests.world import World, make_world

HEADER = "name,birth_year,address,grid,lives_alone,risk,phone,emergency_contact,worker,volunteers"
# worker1 is 张社工, worker2 李社工, volunteer1..3 志愿者1..3 (tests/world.py).
GOOD = (
    "王秀英,1942,幸福里3栋501,一网格,是,高,13800000001,儿子 王强 13900000001,worker1,volunteer1;volunteer2",
    "李建国,1960,幸福里5栋201,二网格,yes,normal,13800000002,女儿 李娟 13900000002,worker2,volunteer3",
    "张桂兰,1950,幸福里1栋101,一网格,否,普通,,,worker1,",
)


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return "\n".join((header, *rows)).encode()


def xlsx_bytes(*rows: list[object], header: str = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header.split(","))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class Roster:
    world: World
    elders: dict[str, int]  # id by name

    def __getattr__(self, name: str) -> object:
        return getattr(self.world, name)


async def roster_world(services: Services, *rows: str) -> Roster:
    world = await make_world(services)
    report = await services.run(
        services.visits.roster.import_roster, world.worker, world.community_id, "roster.csv", csv_bytes(*(rows or GOOD))
    )
    assert report.ok, report.problems
    views, _ = await services.run(services.visits.roster.roster, world.worker, world.community_id, page_size=100)
    return Roster(world, {v.name: v.id for v in views})


class Chat:
    """One person's console chat through the dialog engine, rendered as they would read it."""

    def __init__(self, services: Services, handle: str) -> None:
        self.dialogs = Dialogs(services)
        self.caller = Caller("console", handle, display_name=handle, handle=handle)
        self.updates = 0

    async def say(self, text: str = "", **extra: object) -> str:
        self.updates += 1
        key = f"{self.caller.handle}-{self.updates}"  # unique like a channel's update id
        turn = await self.dialogs.handle(self.caller, Input(text=text, request_key=key, **extra))
        return "\n\n".join(self.dialogs.render(turn.locale, turn.replies))
