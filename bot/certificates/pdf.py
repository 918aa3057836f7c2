"""A certificate of service hours (志愿服务证明) as a one-page A4 PDF, to send and to print.

The certificate service fixes the facts; they are drawn here, outside any transaction, with
fpdf2 and the CJK font the project already ships (Noto Sans CJK SC from `mplfonts`, an OpenType
font fpdf2 embeds as a subset; bot.kernel.pdf_fonts makes that fast). The text is Chinese whatever the
reader's language: it is the document an office signs and seals, with what 民发〔2015〕149号 asks a
certificate to show."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from bot.certificates.service import Facts, hours_text
from bot.kernel.pdf_fonts import add_cjk_font, missing, output
from bot.stars.levels import ZH

A4_WIDTH = 210  # mm
MARGIN = 22
FONT = "noto"
NONE = "—"  # a fact not on record (an ID number, a person in charge not yet named)
CONTENT_ROWS = 7  # categories listed on the page; more are summed in the last row
QR_SIZE = 32  # mm: large enough to scan from print
INK, GREY, RED = (33, 33, 33), (110, 110, 110), (192, 57, 43)


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _period(facts: Facts) -> str:
    start = _day(facts.period.start) if facts.period.start else "首次服务记录起"
    return f"{start} 至 {_day(facts.period.end)}"


def certificate_pdf(facts: Facts) -> bytes:
    pdf = _draw(facts, full=False)
    if missing(pdf, FONT):  # a character the base font lacks (a rare hanzi in a name): the full font
        pdf = _draw(facts, full=True)
    return output(pdf)


def _draw(facts: Facts, *, full: bool) -> Any:
    from fpdf import FPDF
    from segno import make_qr

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)  # one page, always: the content table is capped below
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(f"志愿服务证明 {facts.number}")
    pdf.set_creator("Love Bank 爱心银行")
    pdf.add_page()
    add_cjk_font(pdf, FONT, full=full)
    width = A4_WIDTH - 2 * MARGIN

    pdf.set_text_color(*RED)
    pdf.set_font(FONT, size=26)
    pdf.set_y(30)
    pdf.cell(width, 14, "志 愿 服 务 证 明", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*GREY)
    pdf.set_font(FONT, size=10)
    pdf.cell(width, 8, f"证明编号：{facts.number}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    pdf.set_text_color(*INK)
    pdf.set_font(FONT, size=13)
    pdf.multi_cell(
        width,
        9,
        (
            f"　　兹证明 {facts.person_name} 同志于 {_period(facts)} 期间，在{facts.issuer}"
            f"参加志愿服务，经本组织记录并审核，累计志愿服务时长 {hours_text(facts.minutes)} 小时。特此证明。"
        ),
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)

    rows = [
        ("姓名", facts.person_name),
        ("证件类型", facts.id_type or NONE),
        ("证件号码", facts.id_number_masked or NONE),
        ("服务时间", _period(facts)),
        ("服务时长", f"{hours_text(facts.minutes)} 小时"),
        ("星级", f"{ZH[facts.star_level]}星志愿者" if 0 < facts.star_level < len(ZH) else NONE),
    ]
    pdf.set_font(FONT, size=11)
    label_width = 32
    for label, value in rows:
        pdf.set_fill_color(246, 240, 240)
        pdf.cell(label_width, 8, label, border=1, fill=True)
        pdf.cell(width - label_width, 8, f" {value}", border=1, new_x="LMARGIN", new_y="NEXT")
    # 服务内容: hours per category (at most 7 rows, the rest together, so it stays one page).
    content = facts.content[:CONTENT_ROWS]
    if len(facts.content) > CONTENT_ROWS:
        content = [*content[: CONTENT_ROWS - 1], ("其他类别合计", sum(m for _, m in facts.content[CONTENT_ROWS - 1 :]))]
    lines = [f"{name}　{hours_text(minutes)} 小时" for name, minutes in content] or ["（本期间无已审核的服务记录）"]
    pdf.cell(label_width, 7 * len(lines), "服务内容", border=1, fill=True)
    x = pdf.get_x()
    for i, line in enumerate(lines):
        pdf.set_x(x)
        pdf.cell(
            width - label_width,
            7,
            f" {line}",
            border="LR" + ("T" if i == 0 else "") + ("B" if i == len(lines) - 1 else ""),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(6)

    # The signatures at the left, the seal's empty circle over their right end (where a seal is
    # pressed), then the QR code that verifies it: each placed below what is above it, so a long
    # table never runs into them.
    top = pdf.get_y()
    pdf.set_font(FONT, size=12)
    for label, value in (
        ("出具组织", facts.issuer),
        ("负责人", facts.head or NONE),
        ("经办人", facts.handler),
        ("出具日期", _day(facts.issued_on)),
    ):
        pdf.cell(width - 46, 8, f"{label}：{value}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*GREY)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    pdf.circle(x=A4_WIDTH - MARGIN - 22, y=top + 16, radius=20)
    pdf.set_dash_pattern()
    pdf.set_text_color(*GREY)
    pdf.set_font(FONT, size=10)
    pdf.set_xy(A4_WIDTH - MARGIN - 42, top + 13)
    pdf.cell(40, 6, "（盖章）", align="C")
    qr_top = top + 40
    qr = io.BytesIO()
    make_qr(facts.verify_url, error="m").save(qr, kind="png", scale=6, border=2)
    pdf.image(qr, x=MARGIN, y=qr_top, w=QR_SIZE, h=QR_SIZE)
    pdf.set_xy(MARGIN + QR_SIZE + 4, qr_top + 6)
    pdf.multi_cell(70, 6, f"扫码核验本证明\n编号 {facts.number}\n校验码 {facts.check}")

    pdf.set_font(FONT, size=9)
    pdf.set_xy(MARGIN, max(262, qr_top + QR_SIZE + 2))
    pdf.multi_cell(
        width,
        5.5,
        (
            "说明：本证明依据志愿服务记录出具，服务时长仅计已审核的服务记录；"
            "证明真伪及是否有效，请扫描二维码或访问核验地址查询。\n" + facts.verify_url
        ),
    )
    if facts.revoked:  # a reprint of a voided certificate says so across the page
        pdf.set_text_color(*RED)
        pdf.set_font(FONT, size=40)
        pdf.set_xy(MARGIN, 130)
        pdf.cell(width, 20, "已作废", align="C")
    return pdf
