"""A grid coordinator on Telegram: appointed by a worker in the chat, their grid's elders listed,
and buttons forged for another grid's elder and alert refused with nothing changed."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.channels.kit import Telegram, found_community, person_of, snapshot, texts
from tests.visits_world import csv_bytes

pytestmark = pytest.mark.db

ROWS = (
    "王秀英,1942,幸福里3栋501,一网格,是,高,13800000011,儿子 王强 13900000011,,",
    "李建国,1960,幸福里5栋201,二网格,是,普通,13800000012,女儿 李娟 13900000012,,",
)


async def test_a_coordinator_is_refused_another_grids_buttons(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, 1001)
    worker = await person_of(tg_services, cast.worker)
    report = await tg_services.run(tg_services.visits.roster.import_roster, worker, 1, "roster.csv", csv_bytes(*ROWS))
    assert report.ok, report.problems
    views, _ = await tg_services.run(tg_services.visits.roster.roster, worker, 1)
    elders = {v.name: v.id for v in views}
    li = elders["李建国"]
    assert "一网格" in texts(await cast.worker.send("/grid 王芳 一网格"))
    assert "网格员" in texts(await cast.worker.send("/appoint 王芳 网格员 一网格"))
    alert = (await tg_services.run(tg_services.visits.record, worker, li, kind="visit", outcome="needs_help")).alert_id
    listed = texts(await cast.volunteer.send("/elders"))
    assert "王秀英" in listed and "李建国" not in listed
    before = await snapshot(tg_services)
    for data in (f"/elders E{li}", f"/ack A{alert}", f"/visit E{li} well", f"/assign E{li} 王芳", "/visits all"):
        shown = texts(await cast.volunteer.press_raw(data, None))
        assert shown and not any(s in shown for s in ("李建国", "13800000012", "幸福里5栋201", "李娟")), (data, shown)
    assert await snapshot(tg_services) == before
