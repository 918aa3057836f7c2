"""The monthly report's 审计 sheet (issue 22, item 4): the month's audited actions of the
community, with who took them and whom they concerned; the next month's are not in it."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook

from bot.kernel.clock import FixedClock
from bot.reports.files import to_xlsx
from bot.services import Services
from tests.world import make_world


async def test_the_audit_sheet_holds_the_months_decisions(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    today = clock.community(services.settings.timezone).today()

    async def log(days: int) -> int:
        return (
            await services.run(
                services.hours.submit,
                w.volunteer,
                w.community_id,
                category_id=w.categories["助餐"],
                service_date=today - timedelta(days=days),
                minutes=60,
                note=None,
            )
        ).id

    approved, rejected = await log(1), await log(2)
    await services.run(services.hours.approve, w.worker, approved)
    await services.run(services.hours.reject, w.worker2, rejected, "重复了")
    clock.advance(days=15)  # December
    later = (
        await services.run(
            services.hours.submit,
            w.volunteer,
            w.community_id,
            category_id=w.categories["助餐"],
            service_date=today + timedelta(days=14),
            minutes=60,
            note=None,
        )
    ).id
    await services.run(services.hours.approve, w.worker, later)

    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    sheet = report.sheet("audit")
    assert sheet.title == "审计"
    decided = [row[1:] for row in sheet.rows if row[3].startswith("H")]
    assert decided == [
        ("张社工", "通过服务记录", f"H{approved}", "志愿者1", "points: 10"),
        ("李社工", "驳回服务记录", f"H{rejected}", "志愿者1", "reason: 重复了"),
    ]
    assert all(row[0].startswith("2026-11-") for row in sheet.rows)
    assert "审计" in load_workbook(io.BytesIO(to_xlsx(report))).sheetnames
    english = (await services.run(services.reports.build, w.community_id, "2026-12", "en")).sheet("audit")
    assert [row[1:4] for row in english.rows if row[3].startswith("H")] == [("张社工", "approved hours", f"H{later}")]
