"""A full certificate (an ID on record, a star level, more categories than the page lists) keeps
its parts apart: the signatures above the QR code, the QR code's caption above the note at the
foot, all on one page. Before, the signatures were drawn downwards from the table while the QR
code sat at a fixed height, so a longer table ran the 经办人 line into the QR code."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader

from bot.certificates.pdf import certificate_pdf
from bot.certificates.service import Facts, Period

CATEGORIES = ["探访", "助餐", "助洁", "陪诊", "理发", "维修", "宣传", "文艺", "巡逻", "代购"]


def test_a_full_certificate_keeps_signatures_qr_code_and_note_apart() -> None:
    facts = Facts(
        1,
        "LB2026-000001",
        "0123456789abcdef",
        1,
        "欧阳建国",
        "居民身份证",
        "1101**********002X",
        Period(date(2025, 1, 1), date(2025, 12, 31)),
        6000,
        [(c, 600) for c in CATEGORIES],
        "XX市XX区XX街道XX社区居民委员会",
        "王主任",
        "张社工",
        date(2026, 11, 20),
        False,
        None,
        "https://bank.example.cn/verify/LB2026-000001?k=0123456789abcdef",
        star_level=5,
    )
    reader = PdfReader(io.BytesIO(certificate_pdf(facts)))
    assert len(reader.pages) == 1
    heights: dict[str, float] = {}  # first words of a line -> its baseline, from the page's foot (pt)

    def seen(text: str, _cm: object, tm: list[float], _font: object, _size: object) -> None:
        for start in ("出具日期", "扫码核验", "校验码", "说明", "其他类别合计"):
            if text.replace("\x00", "").strip().startswith(start):  # fpdf2 writes two bytes a character
                heights.setdefault(start, tm[5])

    reader.pages[0].extract_text(visitor_text=seen)
    assert set(heights) == {"出具日期", "扫码核验", "校验码", "说明", "其他类别合计"}, heights
    qr_mm = 32 * 72 / 25.4  # the QR code's height in points: the caption sits beside its top half
    assert heights["其他类别合计"] > heights["出具日期"]
    assert heights["出具日期"] - heights["扫码核验"] > qr_mm / 2  # the QR code starts below the date
    assert heights["校验码"] - heights["说明"] > qr_mm / 3  # and ends above the note
    assert heights["说明"] > 15 * 72 / 25.4  # inside the page's bottom margin
