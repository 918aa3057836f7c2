"""Replies as WeChat shows them: numbered tappable links, splitting at 2,048 bytes on line
breaks, WeChat wording instead of Telegram's buttons."""

from __future__ import annotations

from bot.dialogs.core import Document, Reply, option, reply
from bot.kernel.i18n import T
from handlers.wechat.render import TEXT_LIMIT, render_replies, split_text


def test_options_numbered_across_the_turn_as_bizmsgmenu_links() -> None:
    replies = [
        reply("lang.choose", option("zh-CN", "lang.zh"), option("en", "lang.en")),
        reply("switch.choose", option("/community A&B", "switch.option", name='A&B "x"')),
    ]
    [message] = render_replies("zh-CN", replies)
    lines = message.text.splitlines()
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=中文&msgmenuid=1">1. 中文</a>' in lines
    assert any(line.endswith('msgmenuid=2">2. English</a>') for line in lines)
    third = next(line for line in lines if "msgmenuid=3" in line)
    assert "&B" not in third.split("msgmenucontent=")[1].split("&msgmenuid")[0]  # no stray & in the link


def test_telegram_wording_replaced() -> None:
    [message] = render_replies("zh-CN", [reply("visits.extras_more", option("done", "visits.done"))])
    assert "点“完成”" not in message.text and "回复“完成”" in message.text
    [message] = render_replies("en", [reply("error.stale_option")])
    assert "button" not in message.text.lower()


def test_split_at_line_breaks_within_the_byte_limit() -> None:
    lines = [f"第{i}行：" + "爱心" * 20 for i in range(200)]
    parts = split_text("\n".join(lines))
    assert len(parts) > 1
    assert all(len(p.encode()) <= TEXT_LIMIT for p in parts)
    assert "\n".join(parts) == "\n".join(lines)  # nothing lost, every cut at a line break
    long_line = "长" * 2000  # one line of 6,000 bytes is cut inside the line, never inside a character
    parts = split_text(long_line)
    assert "".join(parts) == long_line and all(len(p.encode()) <= TEXT_LIMIT for p in parts)


def test_pictures_and_files_are_messages_of_their_own() -> None:
    out = render_replies(
        "zh-CN",
        [
            reply("cancel.done"),
            Reply(T("report.chart_caption", community="阳光社区", month="2026-11"), image=b"PNG"),
            Reply(T("report.sent", community="阳光社区", month="2026-11"), document=Document("r.xlsx", b"x")),
        ],
    )
    assert [(bool(m.text), m.image, m.document) for m in out[:2]] == [(True, None, None), (False, b"PNG", None)]
    assert out[2].document.filename == "r.xlsx" and "下载" in out[2].text  # the link goes with its caption
    assert len(out) == 3 and "2026-11" in out[0].text and "阳光社区" in out[0].text
