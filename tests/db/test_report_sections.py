"""The monthly report's supermarket and visits sheets, against what happened in the month."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from bot.reports.files import to_xlsx
from bot.services import Services
from tests.shop_helpers import fund
from tests.visits_world import roster_world
from tests.world import make_world


async def test_stock_sheet_follows_the_months_redemptions(services: Services) -> None:
    w = await make_world(services)
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米5kg", 100, 10)
    await fund(services, w, w.volunteer, 500)
    taken = await services.run(services.shop.redeem, w.volunteer, w.community_id, item.id, 2)
    approved = await services.run(services.shop.approve, w.worker, taken.redemption.id)
    await services.run(services.shop.pickup, w.worker2, w.community_id, approved.redemption.pickup_code)
    refused = await services.run(services.shop.redeem, w.volunteer, w.community_id, item.id, 1)
    await services.run(services.shop.reject, w.worker, refused.redemption.id, "暂时缺货")

    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    sheet = report.sheet("stock")
    [row] = sheet.rows
    # id, name, price, opening, restocked, reserved, handed over, released, closing, points, balanced
    assert row == (f"I{item.id}", "大米5kg", 100, 0, 10, 3, 2, 1, 8, 200, "是")
    assert sheet.totals[-1] == "是" and sheet.title == "兑换与库存"
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert "兑换与库存" in book.sheetnames


async def test_visits_sheet_counts_contact_against_due(services: Services) -> None:
    r = await roster_world(services)
    elders = r.elders
    # 王秀英's visit is checked in at her door (verified) and answered; 李建国's is typed.
    [card] = await services.run(services.checkins.print_cards, r.worker, r.community_id, elder_id=elders["王秀英"])
    scan = await services.run(services.checkins.check_in, r.worker, card.token)
    seen = await services.run(
        services.visits.record, r.worker, elders["王秀英"], kind="visit", outcome="well", checkin_id=scan.checkin_id
    )
    for question, value in (("mood", "good"), ("health", "unwell"), ("need", "nothing")):
        await services.run(services.checkins.answer, r.worker, seen.visit_id, question, value)
    await services.run(services.checkins.set_next_note, r.worker, seen.visit_id, "左耳听不清")
    await services.run(services.visits.record, r.worker, elders["李建国"], kind="visit", outcome="well")
    await services.run(services.visits.record, r.worker, elders["李建国"], kind="call", outcome="well")
    await services.run(services.visits.record, r.worker, elders["张桂兰"], kind="visit", outcome="not_home")

    report = await services.run(services.reports.build, r.community_id, "2026-11", "en")
    sheet = report.sheet("visits")
    rows = {row[1]: row for row in sheet.rows}
    # every, due, visited, of which verified, of which typed, calls, last visit, overdue days at
    # 30 November (roster from 20 November), the last wellbeing answers and the note
    assert rows["王秀英"][3:] == (
        7,
        1,
        1,
        1,
        0,
        0,
        rows["王秀英"][9],
        3,
        "spirits good · health unwell · needs nothing",
        "左耳听不清",
    )
    assert str(rows["王秀英"][9]) == "2026-11-20"
    assert rows["李建国"][3:9] == (14, 1, 1, 0, 1, 1) and rows["李建国"][11:] == ("", "")
    assert rows["张桂兰"][3:] == (30, 1, 0, 0, 0, 0, "", 10, "", "")  # "not at home" is no visit
    assert sheet.totals[4:9] == (3, 2, 1, 1, 1) and sheet.totals[10] == 2
    assert sheet.title == "Elderly visits"


async def test_no_sheets_for_a_community_without_shop_or_elders(services: Services) -> None:
    w = await make_world(services)
    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    assert {s.key for s in report.sheets}.isdisjoint({"stock", "visits"})
