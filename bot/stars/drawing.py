"""Posters: PNG pictures for people to forward or pin up. WeChat Official Accounts cannot post
into groups, so the star list reaches them as a poster workers forward; the notice board gets a
poster with the join QR codes.

Drawn with Pillow in the CJK font the project ships (Noto Sans CJK SC from `mplfonts`), so they
look the same on any server. `star_poster` takes a title and rows, so any list — a community's,
a team's, a tag's — makes the same poster. Pillow is imported only when a poster is drawn, so
commands that never draw one start without it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.kernel.charts import COLOUR, COLOUR_2, packaged_font

WIDTH = 900
MARGIN = 60
RED = COLOUR
GOLD = COLOUR_2
INK = "#333333"
PAPER = "#fffaf3"
MEDAL_COLOURS = {1: "#d4a017", 2: "#9e9e9e", 3: "#b87333"}

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class PosterRow:
    rank: int
    name: str
    hours: str  # already formatted ("1.5")


@dataclass(frozen=True)
class QRPanel:
    label: str  # what to do with it ("微信扫码关注并加入")
    data: str  # what the QR code encodes (a URL)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    path = packaged_font()
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill: str, width: int = WIDTH) -> int:
    f = font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
    draw.text(((width - (right - left)) / 2 - left, y), text, font=f, fill=fill)
    return y + int(bottom - top) + size // 2  # Pillow's stubs say float; a FreeType box is whole pixels


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> str:
    """Cut a long name with an ellipsis so the hours column stays put."""
    f = font(size)
    if draw.textlength(text, font=f) <= width:
        return text
    while text and draw.textlength(text + "…", font=f) > width:
        text = text[:-1]
    return text + "…"


def star_poster(
    title: str, subtitle: str, rows: list[PosterRow], *, hours_label: str, footer: str, empty: str = ""
) -> bytes:
    """A star list as a poster: `title` (community and list), `subtitle` (the period), one line
    per row with rank, name and hours, and a footer."""
    from PIL import Image, ImageDraw

    row_height = 78
    height = 330 + max(len(rows), 1) * row_height + 120
    image = Image.new("RGB", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 210), fill=RED)
    y = _centered(draw, 40, title, 52, "white")
    _centered(draw, max(y, 120), subtitle, 32, "#ffe9e0")
    y = 250
    draw.text((MARGIN, y), "#", font=font(26), fill=INK)
    draw.text((WIDTH - MARGIN - draw.textlength(hours_label, font=font(26)), y), hours_label, font=font(26), fill=INK)
    y += 50
    draw.line((MARGIN, y, WIDTH - MARGIN, y), fill=GOLD, width=3)
    y += 20
    if not rows:
        _centered(draw, y + 10, empty, 34, INK)
    for row in rows:
        colour = MEDAL_COLOURS.get(row.rank)
        if colour:
            draw.ellipse((MARGIN - 6, y + 2, MARGIN + 50, y + 58), fill=colour)
        draw.text((MARGIN + 22, y + 30), str(row.rank), font=font(30), fill="white" if colour else INK, anchor="mm")
        hours_width = draw.textlength(row.hours, font=font(38))
        name = _fit(draw, row.name, 38, WIDTH - 2 * MARGIN - 90 - int(hours_width) - 30)
        draw.text((MARGIN + 90, y + 6), name, font=font(38), fill=INK)
        draw.text((WIDTH - MARGIN - hours_width, y + 6), row.hours, font=font(38), fill=RED)
        y += row_height
    draw.line((MARGIN, y + 10, WIDTH - MARGIN, y + 10), fill=GOLD, width=3)
    _centered(draw, y + 40, footer, 26, "#888888")
    return _png(image)


QR_BORDER = 2  # modules of quiet zone around the code


def qr_image(data: str, size: int) -> Image.Image:
    """The QR code in a white square of `size` pixels, scaled by a whole number so every module
    stays square and sharp for any phone to read."""
    import segno
    from PIL import Image

    code = segno.make(data, error="m")
    modules = code.symbol_size(scale=1, border=QR_BORDER)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, size // modules), border=QR_BORDER)
    out.seek(0)
    qr = Image.open(out).convert("RGB")
    square = Image.new("RGB", (size, size), "white")
    square.paste(qr, ((size - qr.width) // 2, (size - qr.height) // 2))
    return square


def qr_png(data: str, size: int = 430) -> bytes:
    return _png(qr_image(data, size))


def invite_poster(title: str, lines: list[str], panels: list[QRPanel], footer: str) -> bytes:
    """A notice-board poster: a title, a few lines, QR codes side by side with their labels."""
    from PIL import Image, ImageDraw

    qr_size = 340 if len(panels) > 1 else 460
    height = 300 + len(lines) * 56 + qr_size + 220
    image = Image.new("RGB", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 190), fill=RED)
    _centered(draw, 55, title, 56, "white")
    y = 230
    for line in lines:
        y = _centered(draw, y, line, 34, INK)
    y += 20
    slot = WIDTH // max(len(panels), 1)
    for i, panel in enumerate(panels):
        x = i * slot + (slot - qr_size) // 2
        image.paste(qr_image(panel.data, qr_size), (x, y))
        f = font(28)
        label_width = draw.textlength(panel.label, font=f)
        draw.text((i * slot + (slot - label_width) / 2, y + qr_size + 20), panel.label, font=f, fill=INK)
    _centered(draw, y + qr_size + 110, footer, 30, RED)
    return _png(image)


A4_DPI = 150
A4 = (1240, 1754)  # 210 × 297 mm at A4_DPI


def on_a4(png: bytes) -> bytes:
    """A picture (a poster) as a one-page A4 PDF to print: scaled to fit inside a margin, centred."""
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB")
    margin = A4_DPI // 2  # half an inch
    scale = min((A4[0] - 2 * margin) / picture.width, (A4[1] - 2 * margin) / picture.height)
    picture = picture.resize((int(picture.width * scale), int(picture.height * scale)), Image.Resampling.LANCZOS)
    page = Image.new("RGB", A4, "white")
    page.paste(picture, ((A4[0] - picture.width) // 2, margin))
    out = io.BytesIO()
    page.save(out, "PDF", resolution=A4_DPI)
    return out.getvalue()
