"""Certificates are drawn with the smaller base font (GB 2312), and again with the full font when
a name holds a character the base lacks: read back, every character is there."""

from __future__ import annotations

import io
import re
from datetime import date

from pypdf import PdfReader

from bot.certificates.pdf import FONT, _draw, certificate_pdf
from bot.certificates.service import Facts, Period
from bot.kernel.pdf_fonts import base_characters, missing


def facts(name: str) -> Facts:
    return Facts(
        1,
        "LB2026-000001",
        "0123456789abcdef",
        1,
        name,
        None,
        None,
        Period(None, date(2026, 11, 20)),
        750,
        [("探访", 600), ("助餐", 150)],
        "XX街道幸福社区居民委员会",
        "王主任",
        "张社工",
        date(2026, 11, 20),
        False,
        None,
        "/verify/LB2026-000001?k=0123456789abcdef",
        star_level=3,
    )


def text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    return re.sub(r"[\s\x00]+", "", reader.pages[0].extract_text())


def test_common_names_use_the_base_font_and_rare_ones_the_full_font() -> None:
    assert ord("王") in base_characters() and ord("喆") not in base_characters()
    assert not missing(_draw(facts("王小明"), full=False), FONT)
    assert missing(_draw(facts("李喆"), full=False), FONT)
    for name in ("王小明", "李喆", "𠮷田"):
        page = text(certificate_pdf(facts(name)))
        assert f"兹证明{name}同志" in page and "累计志愿服务时长12.5小时" in page and "星级三星志愿者" in page
