"""The monthly report: every total in the XLSX and the CSV files against the database, a ledger
sheet that balances, the chart, the plug-in sections and who may export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from bot.dialogs.core import Caller, Input, Reply
from bot.dialogs.engine import Dialogs
from bot.kernel.charts import packaged_font
from bot.kernel.clock import FixedClock, Month
from bot.kernel.errors import InvalidInput, NotAllowed
from bot.reports import service as reports_module
from bot.reports.files import csv_files, to_xlsx, with_chart
from bot.reports.service import Column, Sheet
from bot.services import Services
from models import Account, AuditEntry, Person, ServiceLog, Transfer
from tests.conftest import T0
from tests.world import World, make_world

# November 2026 in Shanghai, as UTC instants: [START, END).
START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


async def history(services: Services, w: World, clock: FixedClock) -> None:
    """October and November of a small community: earns, a log served on 31 October and approved
    after midnight, pending and rejected logs, gifts, a donation, adjustments, redemptions posted,
    voided and still on hold, and expired points."""
    v1, v2, v3 = w.volunteers
    c = w.community_id

    async def record(v: int, minutes: int, day: date, category: str) -> None:
        await services.run(
            services.hours.record,
            w.worker,
            c,
            [v],
            category_id=w.categories[category],
            service_date=day,
            minutes=minutes,
        )

    clock.at = datetime(2026, 10, 20, 4, 0, tzinfo=UTC)
    await record(v1, 120, date(2026, 10, 19), "探访")
    await record(v2, 90, date(2026, 10, 18), "助餐")
    await services.run(services.points.adjust, w.worker, c, v1, 5, "补记活动积分", key="adj-oct")
    clock.at = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)  # 23:00 on 31 October in Shanghai
    late = await services.run(
        services.hours.submit, v3, c, category_id=w.categories["助洁"], service_date=date(2026, 10, 31), minutes=60
    )
    clock.at = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 November in Shanghai
    await services.run(services.hours.approve, w.worker, late.id)

    clock.at = T0
    await record(v1, 60, date(2026, 11, 19), "探访")
    await record(v2, 180, date(2026, 11, 2), "助餐")
    await record(v3, 45, date(2026, 11, 10), "培训辅导")
    await services.run(
        services.hours.submit, v3, c, category_id=w.categories["探访"], service_date=date(2026, 11, 20), minutes=30
    )
    rejected = await services.run(
        services.hours.submit, v2, c, category_id=w.categories["探访"], service_date=date(2026, 11, 18), minutes=60
    )
    await services.run(services.hours.reject, w.worker, rejected.id, "重复登记")
    await services.run(services.points.gift, v2, c, v3, 10, key="gift-1")
    await services.run(services.points.donate, v1, c, 5, key="donate-1")
    await services.run(services.points.adjust, w.worker, c, v2, -3, "更正", key="adj-nov")
    ledger = services.ledger

    async def hold(v: int, amount: int, key: str) -> int:
        return (
            await services.db.run(
                services.db.transaction, lambda s: ledger.hold(s, community_id=c, person_id=v, amount=amount, key=key)
            )
        ).id

    posted = await hold(v1, 10, "hold-1")
    await services.db.run(services.db.transaction, lambda s: ledger.post(s, pending_id=posted, key="post-1"))
    voided = await hold(v2, 5, "hold-2")
    await services.db.run(services.db.transaction, lambda s: ledger.void(s, pending_id=voided, key="void-2"))
    await hold(v3, 4, "hold-3")

    def expire(s) -> None:
        ledger.transfer(
            s,
            community_id=c,
            debit=ledger.person_account(s, c, v2),
            credit=ledger.system_account(s, c, "expiry"),
            amount=2,
            kind="expire_points",
            key="exp-1",
        )

    await services.db.run(services.db.transaction, expire)


async def ask(services: Services, handle: str, text: str) -> list[Reply]:
    turn = await Dialogs(services).handle(
        Caller("console", handle, display_name=handle, handle=handle), Input(text=text)
    )
    return turn.replies


def rows_of(ws) -> list[tuple]:
    """The table: header to totals, without the notes below."""
    out = []
    for row in ws.iter_rows(values_only=True):
        if all(v is None for v in row):
            break
        out.append(row)
    return out


async def expected(services: Services, w: World) -> dict:
    """What the report must say, computed straight from the rows."""
    with services.db.uow() as session:
        s = session
        logs = (s.execute(select(ServiceLog).where(ServiceLog.community_id == w.community_id))).scalars().all()
        transfers = (s.execute(select(Transfer).where(Transfer.community_id == w.community_id))).scalars().all()
        accounts = {
            a.id: a for a in (s.execute(select(Account).where(Account.community_id == w.community_id))).scalars()
        }
        names = {p.id: p.display_name for p in (s.execute(select(Person))).scalars()}
    people: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for log in logs:
        if log.status == "approved" and log.service_date <= date(2026, 11, 30):
            p = people[names[log.person_id]]
            p["minutes_all"] += log.minutes
            p["earned_all"] += log.points  # points earned count as hours do: by service date
            if log.service_date >= date(2026, 11, 1):
                p["minutes_month"] += log.minutes
                p["logs_month"] += 1
                p["earned_month"] += log.points
    kinds = {a.id: a.kind for a in accounts.values()}
    ledger: dict[str, int] = defaultdict(int)
    for t in transfers:
        if t.phase not in ("posted", "post"):
            continue
        in_month = START <= t.created_at < END
        credit, debit = accounts[t.credit_account_id], accounts[t.debit_account_id]
        if debit.kind == "person" and t.kind == "redeem" and in_month:
            people[names[debit.person_id]]["redeemed_month"] += t.amount
        for account, sign in ((credit, 1), (debit, -1)):
            if account.kind == "person":
                people[names[account.person_id]]["balance"] += sign * t.amount
        if in_month and t.kind == "earn":
            ledger["issued"] += t.amount
        if in_month and t.kind == "redeem" and kinds[t.credit_account_id] == "supermarket":
            ledger["redeemed"] += t.amount
        if in_month and t.kind == "expire_points":
            ledger["expired"] += t.amount
        if in_month and t.kind == "adjust":
            ledger["adjusted"] += t.amount if credit.kind == "person" else -t.amount
        if in_month and t.kind == "gift":
            ledger["gifted"] += t.amount
        if in_month and t.kind == "donate":
            ledger["donated"] += t.amount
        if t.created_at < START:
            ledger["opening"] += sum(
                sign * t.amount for a, sign in ((credit, 1), (debit, -1)) if a.kind in ("person", "pool")
            )
    # Nothing moved after the month, so the cached balances are the month's closing ones.
    ledger["closing"] = sum(a.posted for a in accounts.values() if a.kind in ("person", "pool"))
    ledger["people_closing"] = sum(a.posted for a in accounts.values() if a.kind == "person")
    ledger["pool_closing"] = sum(a.posted for a in accounts.values() if a.kind == "pool")
    ledger["held_closing"] = sum(a.pending for a in accounts.values() if a.kind == "person")
    return {"people": people, "ledger": ledger, "logs": logs}


async def test_every_total_in_the_xlsx_matches_the_database(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await history(services, w, clock)
    replies = await ask(services, "worker1", "/report 2026-11")
    document = replies[0].document
    assert document is not None and document.filename == "幸福社区-2026-11-月报.xlsx"
    book = load_workbook(io.BytesIO(document.content))
    assert book.sheetnames == ["志愿者", "积分台账", "按时审核", "审计", "按周统计", "按类别统计", "图表"]
    want = await expected(services, w)

    ws = book["志愿者"]
    table = rows_of(ws)
    header, body, totals = table[0], table[1:-1], table[-1]
    assert [h.replace("\n", "") for h in header] == [
        "序号",
        "姓名",
        "实名",
        "角色",
        "本月服务时长（小时）",
        "本月服务次数",
        "本月获得积分",
        "本月兑换积分",
        "累计服务时长（小时）",
        "累计获得积分",
        "月末积分余额",
    ]
    assert [r[1] for r in body] == ["志愿者2", "志愿者1", "志愿者3"]  # most hours this month first
    assert [r[0] for r in body] == [1, 2, 3]
    for r in body:
        p = want["people"][r[1]]
        assert r[4] == p["minutes_month"] / 60 and r[5] == p["logs_month"]
        assert (r[6], r[7]) == (p["earned_month"], p["redeemed_month"])
        assert r[8] == p["minutes_all"] / 60 and r[9] == p["earned_all"] and r[10] == p["balance"]
    assert totals[0] == "合计"
    for col in range(4, 11):
        assert totals[col] == pytest.approx(sum(r[col] for r in body))
    # Hand-checked too, so the test does not only agree with itself: volunteer 3's hour served on
    # 31 October counts for October, and so do its 10 points, though posted on 1 November
    # (Shanghai time): points earned are counted as the hours are.
    assert {r[1]: (r[4], r[6], r[8], r[10]) for r in body} == {
        "志愿者1": (1, 10, 3, 20),
        "志愿者2": (3, 30, 4.5, 30),
        "志愿者3": (0.75, 7, 1.75, 27),
    }
    assert ws.freeze_panes == "A2" and ws["A1"].font.b and ws["K2"].number_format == "#,##0"
    assert ws["E2"].number_format == "#,##0.00" and ws.column_dimensions["B"].width >= 10
    assert ws["A2"].alignment.horizontal == "center" and ws["A1"].alignment.wrap_text
    assert ws.print_title_rows == "$1:$1" and ws.page_setup.orientation == "landscape"

    ledger = {r[0]: r[1] for r in rows_of(book["积分台账"])[1:] if r[0]}
    assert book["积分台账"]["A10"].value == "月末流通积分" and book["积分台账"]["A10"].font.b
    L = want["ledger"]
    assert ledger["月初流通积分（个人账户＋爱心积分池）"] == L["opening"] == 40
    assert ledger["加：本月发放（服务积分）"] == L["issued"] == 57
    assert ledger["减：本月兑换（爱心超市）"] == L["redeemed"] == 10
    assert ledger["减：本月过期"] == L["expired"] == 2
    assert ledger["加/减：本月人工调整（净额）"] == L["adjusted"] == -3
    assert ledger["加/减：其他更正（净额）"] == 0
    assert ledger["月末流通积分"] == L["closing"] == 82
    assert ledger["核对差额（应为 0）"] == 0
    assert ledger["本月志愿者之间转赠（不影响合计）"] == L["gifted"] == 10
    assert ledger["本月捐入爱心积分池（不影响合计）"] == L["donated"] == 5
    assert ledger["月末个人账户积分合计"] == L["people_closing"] == totals[10]
    assert ledger["月末爱心积分池"] == L["pool_closing"] == 5
    assert ledger["月末冻结积分（兑换待核销）"] == L["held_closing"] == 4
    assert ledger["月末个人可用积分"] == L["people_closing"] - 4
    # What the volunteers earned in all, and the 31 October hour's 10 points issued on 1 November
    # (the ledger counts when points moved; earned points count by service date, as hours do).
    assert ledger["加：本月发放（服务积分）"] == totals[6] + 10

    november = [g for g in want["logs"] if g.status == "approved" and g.service_date.month == 11]
    weeks = rows_of(book["按周统计"])
    assert weeks[-1][1] == sum(g.minutes for g in november) / 60 == sum(r[1] for r in weeks[1:-1])
    assert weeks[-1][2] == len(november) and weeks[-1][3] == len({g.person_id for g in november})
    assert [r[0] for r in weeks[1:3]] == ["11-01 – 11-01", "11-02 – 11-08"] and weeks[2][1] == 3
    categories = {r[0]: r[1:] for r in rows_of(book["按类别统计"])[1:]}
    assert categories["助餐"] == (3, 1, 30) and categories["培训辅导"] == (0.75, 1, 7)
    assert categories["合计"] == (sum(g.minutes for g in november) / 60, len(november), sum(g.points for g in november))
    assert len(book["图表"]._images) == 1

    with services.db.uow() as session:
        audited = (session.execute(select(AuditEntry).where(AuditEntry.action == "export.report"))).scalars().all()
    assert [(a.actor_id, a.community_id, a.details["month"], a.details["via"]) for a in audited] == [
        (w.worker, w.community_id, "2026-11", "chat"),
    ]


async def test_the_ledger_balances_month_after_month(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await history(services, w, clock)
    october = reports_module.ledger_summary(*await _flows(services, w, 2026, 10))
    november = reports_module.ledger_summary(*await _flows(services, w, 2026, 11))
    assert (october.opening, october.issued, october.adjusted, october.closing) == (0, 35, 5, 40)
    assert november.opening == october.closing
    for month in (october, november):
        assert month.difference == 0
        assert (
            month.opening + month.issued - month.redeemed - month.expired + month.adjusted + month.other
            == month.closing
        )
    assert november.people_closing + november.pool_closing == november.closing


async def _flows(services: Services, w: World, year: int, month: int):
    with services.db.uow() as session:
        return reports_module._flows(session, w.community_id, Month(year, month))


async def test_the_csv_files_carry_the_same_numbers(services: Services, clock: FixedClock, tmp_path: Path) -> None:
    w = await make_world(services)
    await history(services, w, clock)
    report = with_chart(await services.run(services.reports.export, "幸福社区", "2026-11", "zh-CN", "csv"))
    files = csv_files(report, tmp_path / "november.csv")
    assert sorted(p.name for p in files) == [
        "november-audit.csv",
        "november-categories.csv",
        "november-chart.png",
        "november-decisions.csv",
        "november-ledger.csv",
        "november-volunteers.csv",
        "november-weeks.csv",
    ]
    assert files[tmp_path / "november-chart.png"].startswith(PNG)
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    for key, title in (
        ("volunteers", "志愿者"),
        ("ledger", "积分台账"),
        ("weeks", "按周统计"),
        ("categories", "按类别统计"),
    ):
        raw = files[tmp_path / f"november-{key}.csv"]
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        sheet = rows_of(book[title])
        assert len(rows) == len(sheet)
        for csv_row, xlsx_row in zip(rows, sheet, strict=True):
            assert [_number(v) for v in csv_row] == [_number(v) for v in xlsx_row]
    want = await expected(services, w)
    ledger = dict(list(csv.reader(io.StringIO(files[tmp_path / "november-ledger.csv"].decode("utf-8-sig"))))[1:])
    assert int(ledger["月末流通积分"]) == want["ledger"]["closing"] and int(ledger["核对差额（应为 0）"]) == 0
    with services.db.uow() as session:
        audited = (session.execute(select(AuditEntry).where(AuditEntry.action == "export.report"))).scalars().all()
    assert [(a.actor_id, a.details["format"], a.details["via"]) for a in audited] == [(None, "csv", "cli")]


def _number(value: object) -> object:
    """CSV holds text; compare numbers as numbers and blanks as blanks (and headers on one line)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = value.replace("\n", "")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


async def test_english_headers(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await history(services, w, clock)
    report = with_chart(await services.run(services.reports.export, "幸福社区", "2026-11", "en", "xlsx"))
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert book.sheetnames == [
        "Volunteers",
        "Points ledger",
        "Decisions on time",
        "Audit",
        "By week",
        "By category",
        "Chart",
    ]
    assert rows_of(book["Volunteers"])[0][:5] == ("No.", "Name", "Real name", "Role", "Hours this month")
    assert rows_of(book["Volunteers"])[-1][0] == "Total"
    assert rows_of(book["Points ledger"])[10] == ("Check difference (must be 0)", 0)
    assert "Meals" in [r[0] for r in rows_of(book["By category"])]


async def test_who_may_export(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    for handle in ("resident1", "volunteer1"):
        [refusal] = await ask(services, handle, "/report 2026-11")
        assert refusal.document is None and refusal.text.key == "error.need_worker"
    with pytest.raises(NotAllowed):  # a worker of another community
        await services.run(services.reports.monthly, w.other_worker, w.community_id, "2026-11", "zh-CN")
    admin = await services.run(services.reports.monthly, w.admin, w.community_id, "2026-11", "en")
    assert (admin.community, admin.month.label) == ("幸福社区", "2026-11")

    [choice] = await ask(services, "worker1", "/report")
    assert [o.value for o in choice.options] == ["/report 2026-11", "/report 2026-10"]
    assert (await ask(services, "worker1", "/report 2026-12"))[0].text.key == "error.month_future"
    assert (await ask(services, "worker1", "/report soon"))[0].text.key == "error.bad_month"
    with pytest.raises(InvalidInput):  # the CLI must name one of several communities
        await services.run(services.reports.export, None, "2026-11", "zh-CN", "xlsx")
    with services.db.uow() as session:
        audited = (
            (session.execute(select(AuditEntry.actor_id).where(AuditEntry.action == "export.report"))).scalars().all()
        )
    assert audited == [w.admin]  # refusals export nothing and log nothing


async def test_the_chart_is_a_png_with_a_chinese_font(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await history(services, w, clock)
    assert packaged_font() is not None  # the CJK font comes with the project's dependencies
    [picture] = await ask(services, "volunteer1", "/chart")
    assert picture.image is not None and picture.image.startswith(PNG)
    with Image.open(io.BytesIO(picture.image)) as image:
        image.verify()
        assert image.size[0] > 600 and image.size[1] > 300
    assert [o.value for o in picture.options] == ["/chart 2026-10"]
    [empty] = await ask(services, "volunteer1", "/chart 2026-09")
    assert empty.image is not None and empty.image.startswith(PNG)
    with pytest.raises(NotAllowed):
        await services.run(services.reports.hours_chart, w.other_worker, w.community_id, None, "zh-CN")


async def test_other_features_plug_their_sheets_in(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    w = await make_world(services)
    seen = []

    def stock(session, community_id, month, locale):
        seen.append((community_id, month.label, month.start, locale))
        return Sheet(
            "stock", "爱心超市", (Column("商品"), Column("库存", "int")), [("大米", 12), ("食用油", 3)], ("合计", 15)
        )

    def nothing(session, community_id, month, locale):
        return None

    monkeypatch.setattr(services.reports, "sections", [stock, nothing])
    report = with_chart(await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN"))
    assert [s.key for s in report.sheets] == ["volunteers", "ledger", "stock", "weeks", "categories", "chart"]
    assert seen == [(w.community_id, "2026-11", START, "zh-CN")]
    book = load_workbook(io.BytesIO(to_xlsx(report)))
    assert rows_of(book["爱心超市"]) == [("商品", "库存"), ("大米", 12), ("食用油", 3), ("合计", 15)]
    assert book["爱心超市"]["B2"].number_format == "#,##0"
