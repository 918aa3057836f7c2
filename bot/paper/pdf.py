"""The paper path drawn as A4 PDFs, outside any transaction, with fpdf2 and the project's CJK
font (bot.kernel.pdf_fonts): a monthly statement, one page per member, and an event sign-in
sheet with its QR code. The text is Chinese whatever the reader's language: these are handed
to residents of a Chinese community and kept in its files."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from bot.kernel.clock import local_date
from bot.kernel.i18n import hours
from bot.kernel.pdf_fonts import add_cjk_font, missing, output
from bot.paper.service import SheetFacts, Statement, StatementBook
from bot.stars.levels import ZH

A4_WIDTH, A4_HEIGHT = 210, 297  # mm
MARGIN = 18
FONT = "noto"
ROWS = 6  # lines of each list on a page (hours, redemptions, pickups), so all three fit above the footer
INK, GREY, RED = (33, 33, 33), (110, 110, 110), (192, 57, 43)
STATUS = {
    "pending": "待审核",
    "approved": "待领取",
    "rejected": "未通过",
    "cancelled": "已取消",
    "expired": "已过期",
    "done": "已领取",
}


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _drawn(draw: Any) -> bytes:
    pdf = draw(full=False)
    if missing(pdf, FONT):  # a character the base font lacks (a rare hanzi in a name): the full font
        pdf = draw(full=True)
    return output(pdf)


def _document(title: str, *, full: bool) -> Any:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)  # pages are laid out here, never split by fpdf2
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(title)
    pdf.set_creator("Love Bank 爱心银行")
    add_cjk_font(pdf, FONT, full=full)
    return pdf


# --- monthly statements ------------------------------------------------------------------------


def statements_pdf(book: StatementBook) -> bytes:
    """One page per member; a book with nobody in it is one page saying so."""
    return _drawn(lambda full: _statements(book, full=full))


def _statements(book: StatementBook, *, full: bool) -> Any:
    pdf = _document(f"爱心银行积分对账单 {book.community} {book.month.label}", full=full)
    if not book.statements:
        pdf.add_page()
        _heading(pdf, book, None)
        pdf.set_font(FONT, size=12)
        pdf.cell(0, 10, "本月没有需要纸质对账单的成员。", new_x="LMARGIN", new_y="NEXT")
    for statement in book.statements:
        pdf.add_page()
        _heading(pdf, book, statement)
        _page(pdf, book, statement)
    return pdf


def _heading(pdf: Any, book: StatementBook, statement: Statement | None) -> None:
    width = A4_WIDTH - 2 * MARGIN
    pdf.set_text_color(*RED)
    pdf.set_font(FONT, size=20)
    pdf.set_y(MARGIN)
    pdf.cell(width, 12, "爱心银行 积分对账单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*GREY)
    pdf.set_font(FONT, size=10)
    where = book.community + (f" · {statement.grid}" if statement and statement.grid else "")
    pdf.cell(width, 7, f"{where}　　{book.month.year}年{book.month.month}月", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_text_color(*INK)


def _level(statement: Statement) -> str:
    level = statement.standing.level
    name = f"{ZH[level]}星志愿者 {'★' * level}" if 0 < level < len(ZH) else "尚未评星"
    if statement.standing.to_next is not None:
        name += f"（再服务 {hours(statement.standing.to_next)} 小时升级）"
    return name


def _page(pdf: Any, book: StatementBook, s: Statement) -> None:
    width = A4_WIDTH - 2 * MARGIN
    label = 34
    pdf.set_font(FONT, size=14)
    pdf.cell(width, 10, f"姓名：{s.name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=11)
    rows = [
        ("可用积分", f"{s.balance.available} 分"),
        ("冻结中", f"{s.balance.pending} 分"),
        ("累计获得", f"{s.balance.earned_points} 分"),
        ("累计服务", f"{hours(s.balance.earned_minutes)} 小时"),
        ("星级", _level(s)),
    ]
    if s.expiring is not None:
        rows.append(("即将到期", f"{s.expiring.amount} 分将于 {_day(s.expiring.on)} 到期"))
    for name, value in rows:
        pdf.set_fill_color(246, 240, 240)
        pdf.cell(label, 8, name, border=1, fill=True)
        pdf.cell(width - label, 8, f" {value}", border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    minutes, points = sum(log.minutes for log in s.logs), sum(log.points for log in s.logs)
    _section(pdf, f"本月服务：{len(s.logs)} 次，{hours(minutes)} 小时，{points} 分")
    lines = [
        f"{_short_day(log.service_date)}　{log.category}　{hours(log.minutes)} 小时　+{log.points} 分" for log in s.logs
    ]
    _lines(pdf, lines, "本月没有已审核的服务记录。")

    spent = sum(r.total for r in s.redemptions if r.status in ("approved", "done", "pending"))
    _section(pdf, f"本月兑换：{len(s.redemptions)} 笔，{spent} 分")
    tz = book.month.timezone
    lines = [
        f"{_short(r.created_at, tz)}　{r.item_name} ×{r.quantity}　{r.total} 分　{STATUS.get(r.status, r.status)}"
        for r in s.redemptions
    ]
    _lines(pdf, lines, "本月没有兑换。")

    _section(pdf, "待领取（凭取货码到爱心超市领取）")
    lines = [f"取货码 {r.pickup_code}　{r.item_name} ×{r.quantity}" for r in s.pickups]
    _lines(pdf, lines, "没有待领取的物品。")

    pdf.set_font(FONT, size=10)
    pdf.set_text_color(*GREY)
    pdf.set_xy(MARGIN, A4_HEIGHT - MARGIN - 20)
    contact = book.contact or "请到社区服务站咨询"
    pdf.multi_cell(
        width,
        6,
        f"社区联系方式：{contact}\n打印日期：{_day(book.printed_on)}　积分以爱心银行系统记录为准，如有疑问请联系社区。",
    )
    pdf.set_text_color(*INK)


def _short(moment: datetime, tz: str) -> str:
    return _short_day(local_date(moment, tz))


def _short_day(d: date) -> str:
    return f"{d.month}月{d.day}日"


def _section(pdf: Any, title: str) -> None:
    pdf.set_font(FONT, size=12)
    pdf.set_text_color(*RED)
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)


def _lines(pdf: Any, lines: list[str], empty: str) -> None:
    pdf.set_font(FONT, size=10)
    shown = lines if len(lines) <= ROWS else [*lines[: ROWS - 1], f"……另有 {len(lines) - ROWS + 1} 条"]
    for line in shown or [empty]:
        pdf.cell(0, 6.5, f"　{line}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


# --- event sign-in sheets ------------------------------------------------------------------------

QR_SIZE = 34  # mm
ROW = 9  # mm a name's row: room for a signature


def sheet_pdf(facts: SheetFacts, content: str, png: bytes | None = None) -> bytes:
    """The sheet with a QR code of `content` (the code, or a deep link carrying it), or the
    platform's own QR code picture `png`."""
    return _drawn(lambda full: _sheet(facts, content, png, full=full))


def _sheet(facts: SheetFacts, content: str, png: bytes | None, *, full: bool) -> Any:
    from segno import make_qr

    pdf = _document(f"签到表 {facts.name}", full=full)
    qr = io.BytesIO(png or b"")
    if png is None:
        make_qr(content, error="m").save(qr, kind="png", scale=6, border=2)
    width = A4_WIDTH - 2 * MARGIN
    columns = (14, 52, 60, width - 126)  # 序号 姓名 签到 备注
    rows = list(enumerate(facts.names, start=1))
    page = 0
    while rows or page == 0:
        page += 1
        pdf.add_page()
        pdf.set_text_color(*RED)
        pdf.set_font(FONT, size=20)
        pdf.set_y(MARGIN)
        pdf.cell(width - QR_SIZE - 4, 12, "活动签到表", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, size=12)
        for line in (
            f"活动：{facts.name}",
            f"社区：{facts.community}" + (f"　服务队：{facts.team}" if facts.team else ""),
            "日期：________年____月____日　时长：______小时",
        ):
            pdf.cell(width - QR_SIZE - 4, 8, line, new_x="LMARGIN", new_y="NEXT")
        qr.seek(0)
        pdf.image(qr, x=A4_WIDTH - MARGIN - QR_SIZE, y=MARGIN, w=QR_SIZE, h=QR_SIZE)
        pdf.set_font(FONT, size=8)
        pdf.set_text_color(*GREY)
        pdf.set_xy(A4_WIDTH - MARGIN - QR_SIZE - 6, MARGIN + QR_SIZE)
        pdf.cell(QR_SIZE + 6, 5, facts.token, align="C")
        pdf.set_text_color(*INK)
        pdf.set_xy(MARGIN, MARGIN + QR_SIZE + 8)
        pdf.set_font(FONT, size=11)
        pdf.set_fill_color(246, 240, 240)
        for title, w in zip(("序号", "姓名", "签到", "备注"), columns, strict=True):
            pdf.cell(w, ROW, title, border=1, fill=True, align="C")
        pdf.ln(ROW)
        while rows and pdf.get_y() + ROW <= A4_HEIGHT - MARGIN - 16:
            number, name = rows.pop(0)
            for text, w in zip((str(number), name, "", ""), columns, strict=True):
                pdf.cell(w, ROW, text, border=1, align="C" if w == columns[0] else "L")
            pdf.ln(ROW)
        pdf.set_font(FONT, size=9)
        pdf.set_text_color(*GREY)
        pdf.set_xy(MARGIN, A4_HEIGHT - MARGIN - 12)
        pdf.multi_cell(
            width,
            5,
            f"活动结束后，社区工作者扫描右上角二维码（或在聊天中发送 /event {facts.token}），"
            "勾选到场人员即可一次记录全部时长；每张签到表只能记录一次。"
            f"打印日期：{_day(facts.printed_on)}　第 {page} 页",
        )
        pdf.set_text_color(*INK)
    return pdf
