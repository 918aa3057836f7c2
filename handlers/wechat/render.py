"""Replies → WeChat messages. No inline keyboards on WeChat: options become numbered lines, each
a `weixin://bizmsgmenu` link the person taps (it comes back as text carrying `bizmsgmenuid`, the
number) or answers by typing the number. Numbers run across the whole turn, as the dialog engine
expects them. Texts are split at line breaks to fit WeChat's limit; pictures and files are
messages of their own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogs.core import Document, Reply
from bot.kernel.i18n import render

TEXT_LIMIT = 2048  # bytes of UTF-8 WeChat accepts in one text message (passive or customer service)

# Catalogue texts that speak of Telegram's buttons, said the WeChat way.
WORDING = {
    "error.stale_option": "wechat.stale_option",
    "visits.list": "wechat.visits_list",
    "visits.extras_more": "wechat.visits_extras_more",
    "report.sent": "wechat.report_sent",
}


@dataclass(frozen=True)
class Outgoing:
    """One WeChat message: a text, a picture (PNG), or a file (sent as a download link after the
    text)."""

    text: str | None = None
    image: bytes | None = None
    document: Document | None = None


def option_link(number: int, label: str) -> str:
    # The label travels back as the message text: keep it free of what would end the link.
    label = " ".join(label.replace('"', "'").replace("&", "＆").replace("<", "‹").replace(">", "›").split())
    return f'<a href="weixin://bizmsgmenu?msgmenucontent={label}&msgmenuid={number}">{number}. {label}</a>'


def render_replies(locale: str, replies: list[Reply]) -> list[Outgoing]:
    out: list[Outgoing] = []
    texts: list[str] = []
    number = 0

    def flush() -> None:
        if texts:
            out.extend(Outgoing(text=part) for part in split_text("\n\n".join(texts)))
            texts.clear()

    for r in replies:
        lines = [render(locale, WORDING.get(r.text.key, r.text.key), r.text.params)]
        for o in r.options:
            number += 1
            lines.append(option_link(number, render(locale, o.label.key, o.label.params)))
        text = "\n".join(line for line in lines if line)
        if r.image is None and r.document is None:
            if text.strip():
                texts.append(text)
            continue
        if text.strip():
            texts.append(text)  # the caption goes just before the picture, or with the link
        if r.image is not None:
            flush()
            out.append(Outgoing(image=r.image))
            continue
        caption = "\n\n".join(texts)
        texts.clear()
        out.append(Outgoing(text=caption or None, document=r.document))
    flush()
    return out


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line breaks (inside a line only when the
    line alone is too long, and never inside a character)."""
    if len(text.encode()) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode()) > limit:
            head = line.encode()[:limit].decode(errors="ignore")  # drops a character cut in two
            parts.append(head)
            line = line[len(head) :]
        current = line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]
