"""An elder's door card (A6): the elder's name, a QR code a visitor scans to check in, and the
community's help line; and the signed token the QR code carries.

The token is `ck-<elder>-<generation>-<check>`: the check is an HMAC of the elder and the card's
generation under a key kept with the elder (made at random at the first print), so nobody can
make a card for an elder, and a reprint (the next generation) voids every earlier card. At most
40 characters of [A-Za-z0-9_-]: it fits WeChat's `scene_str` (64) and a Telegram start
payload (64) as it is.

Drawn outside any transaction, with fpdf2 and the CJK font the project ships (see
bot.kernel.pdf_fonts), like the certificates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from typing import Any

from bot.kernel.pdf_fonts import add_cjk_font, missing, output

PREFIX = "ck-"
CHECK_CHARS = 16  # 96 bits of the HMAC, base64url
_TOKEN = re.compile(r"^ck-(\d{1,9})-(\d{1,6})-([A-Za-z0-9_-]{16})$")

A6 = (105, 148)  # mm
MARGIN = 8
QR_SIZE = 62  # mm: scans from an arm's length at a door
FONT = "noto"
INK, GREY, RED = (33, 33, 33), (110, 110, 110), (192, 57, 43)


def looks_like_token(text: str) -> bool:
    """A door card's token rather than an invite code (which has no dashes)."""
    return text.startswith(PREFIX)


def sign(key: str, elder_id: int, generation: int) -> str:
    digest = hmac.new(key.encode(), f"card:{elder_id}:{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:CHECK_CHARS]


def make_token(key: str, elder_id: int, generation: int) -> str:
    return f"{PREFIX}{elder_id}-{generation}-{sign(key, elder_id, generation)}"


def parse_token(text: str) -> tuple[int, int, str] | None:
    """(elder, generation, check) of a well-formed token; None for anything else."""
    match = _TOKEN.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def check_ok(key: str, elder_id: int, generation: int, check: str) -> bool:
    return hmac.compare_digest(sign(key, elder_id, generation), check)


@dataclass(frozen=True)
class Card:
    """What a printed card shows; `url` is what its QR code opens (a WeChat QR code's address,
    a Telegram deep link), the token itself when no platform is configured (typed on the console)."""

    elder_id: int
    name: str
    grid: str | None
    community: str
    help_line: str | None
    token: str
    generation: int
    url: str | None = None

    @property
    def ref(self) -> str:
        return f"E{self.elder_id}"


def cards_pdf(cards: list[Card]) -> bytes:
    """One A6 page per card."""
    pdf = _draw(cards, full=False)
    if missing(pdf, FONT):  # a rare hanzi in a name: the full font
        pdf = _draw(cards, full=True)
    return output(pdf)


def _draw(cards: list[Card], *, full: bool) -> Any:
    from fpdf import FPDF
    from segno import make_qr

    pdf = FPDF(orientation="portrait", unit="mm", format=A6)
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title("爱心探访卡")
    pdf.set_creator("Love Bank 爱心银行")
    width = A6[0] - 2 * MARGIN
    for number, card in enumerate(cards):
        pdf.add_page()
        if number == 0:
            add_cjk_font(pdf, FONT, full=full)
        pdf.set_text_color(*RED)
        pdf.set_font(FONT, size=15)
        pdf.set_y(MARGIN)
        pdf.cell(width, 8, f"{card.community} · 爱心探访卡", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, size=24)
        pdf.cell(width, 13, card.name, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*GREY)
        pdf.set_font(FONT, size=9)
        where = f"{card.grid} · {card.ref}" if card.grid else card.ref
        pdf.cell(width, 5, where, align="C", new_x="LMARGIN", new_y="NEXT")
        qr = io.BytesIO()
        make_qr(card.url or card.token, error="m").save(qr, kind="png", scale=8, border=2)
        top = pdf.get_y() + 2
        pdf.image(qr, x=(A6[0] - QR_SIZE) / 2, y=top, w=QR_SIZE, h=QR_SIZE)
        pdf.set_y(top + QR_SIZE + 1)
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, size=10)
        pdf.cell(width, 6, "志愿者上门时请扫码签到", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*GREY)
        pdf.set_font(FONT, size=7)
        pdf.cell(width, 4, f"/checkin {card.token}", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(A6[1] - MARGIN - 20)
        pdf.set_text_color(*RED)
        pdf.set_font(FONT, size=12)
        pdf.cell(width, 7, "求助热线", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, size=16)
        pdf.cell(width, 9, card.help_line or "请向社区索取", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*GREY)
        pdf.set_font(FONT, size=6)
        pdf.cell(width, 4, f"第 {card.generation} 版 · 重印后旧卡失效", align="C")
    return pdf
