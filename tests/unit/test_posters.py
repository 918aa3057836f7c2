"""Posters: the star list (title and rows, any list) and the notice-board invite with QR codes
that encode exactly what they should."""

from __future__ import annotations

import io

import segno
from PIL import Image

from bot.stars.drawing import QR_BORDER, PosterRow, QRPanel, invite_poster, qr_image, star_poster


def test_star_poster_grows_with_its_rows_and_draws_the_text() -> None:
    rows = [PosterRow(i, f"志愿者{i}", str(10 - i)) for i in range(1, 11)]
    ten = Image.open(io.BytesIO(star_poster("阳光社区 明星榜", "2026-11", rows, hours_label="小时", footer="谢谢")))
    two = Image.open(io.BytesIO(star_poster("党员明星榜", "2026-11", rows[:2], hours_label="小时", footer="谢谢")))
    empty = Image.open(
        io.BytesIO(star_poster("阳光社区", "2026-11", [], hours_label="小时", footer="谢谢", empty="暂无"))
    )
    assert ten.format == "PNG" and ten.width == two.width == 900
    assert ten.height > two.height >= empty.height
    # Text was drawn (ink on the paper below the banner), not a blank picture.
    assert len(ten.crop((0, 300, 900, 600)).getcolors(maxcolors=1 << 20)) > 10


def test_qr_codes_encode_their_data() -> None:
    data = "https://t.me/lovebank_bot?start=ABCD2345"
    image = qr_image(data, 400)
    matrix = segno.make(data, error="m").matrix
    n = len(matrix) + 2 * QR_BORDER
    scale = 400 // n
    offset = (400 - n * scale) // 2 + QR_BORDER * scale
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            pixel = image.getpixel((offset + x * scale + scale // 2, offset + y * scale + scale // 2))
            assert (pixel == (0, 0, 0)) == bool(dark), (x, y)


def test_invite_poster_has_one_panel_per_channel() -> None:
    one = Image.open(
        io.BytesIO(invite_poster("加入", ["邀请码：ABCD2345"], [QRPanel("微信", "http://weixin.qq.com/q/x")], "爱心"))
    )
    two = Image.open(
        io.BytesIO(
            invite_poster(
                "加入",
                ["邀请码：ABCD2345"],
                [QRPanel("微信", "http://weixin.qq.com/q/x"), QRPanel("Telegram", "https://t.me/b?start=ABCD2345")],
                "爱心",
            )
        )
    )
    assert one.format == two.format == "PNG" and one.width == two.width
