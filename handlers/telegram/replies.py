"""Replies → Bot API calls: text in the person's language, options as inline keyboards, the
contact-share reply keyboard, documents and photos. The calls are plain JSON first
(`reply_calls`), so the inbox can store them with the update they answer."""

from __future__ import annotations

import base64
import warnings
from collections.abc import MutableMapping
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import MessageLimit
from telegram.warnings import PTBUserWarning

from bot.dialogs.core import MAX_OPTION_BYTES, Reply
from bot.kernel.i18n import render
from bot.kernel.later import is_placeholder_b64

# chat_data flag: a reply keyboard (contact share) is showing and goes with the next plain reply.
REPLY_KEYBOARD = "reply_keyboard"
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH
# Calls are sent as the JSON they are stored as (`Bot.do_api_request`). The typed methods would
# build objects from it again and decode the Message Telegram answers, which nothing here reads:
# about 110 µs a call against 23 µs. python-telegram-bot warns when a typed method exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)


def inline_keyboard(locale: str, r: Reply) -> dict[str, Any] | None:
    if not r.options:
        return None
    buttons = []
    for o in r.options:
        if len(o.value.encode()) > MAX_OPTION_BYTES:  # Option refuses these; never send a broken button
            raise ValueError(f"callback data over {MAX_OPTION_BYTES} bytes: {o.value!r}")
        buttons.append({"text": render(locale, o.label.key, o.label.params), "callback_data": o.value})
    width = max(r.columns, 1)
    return {"inline_keyboard": [buttons[i : i + width] for i in range(0, len(buttons), width)]}


def contact_keyboard(locale: str) -> dict[str, Any]:
    return {
        "keyboard": [[{"text": render(locale, "telegram.share_contact"), "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Long texts (a history page, /help) in pieces Telegram accepts, cut at line ends."""
    if len(text) <= limit:
        return [text]
    parts, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [p.rstrip("\n") or p for p in parts]


Call = dict[str, Any]  # {"method": …, "params": {…}, "file": {"field", "filename", "b64"}?, "optional": bool?}


def reply_calls(
    chat_id: int | str, locale: str, replies: list[Reply], chat_data: MutableMapping[Any, Any] | None
) -> list[Call]:
    """The Bot API calls that show `replies`, as JSON: sent at once, or stored with an inbox
    entry and sent (and resent after a crash) from there."""
    state = chat_data if chat_data is not None else {}
    calls: list[Call] = []
    for r in replies:
        text = render(locale, r.text.key, r.text.params)
        markup = inline_keyboard(locale, r)
        if r.request_contact:
            markup = contact_keyboard(locale)
            state[REPLY_KEYBOARD] = True
        elif markup is None and state.pop(REPLY_KEYBOARD, False):
            markup = {"remove_keyboard": True}  # the contact button has done its job
        calls.extend(_calls_one(chat_id, text, r, markup))
    return calls


async def send_call(bot: Bot, call: Call) -> Any:
    params = {k: v for k, v in call["params"].items() if v is not None}
    upload = call.get("file")
    if upload:
        if is_placeholder_b64(upload["b64"]):  # a file never made (a crash after the turn): left out
            return None
        params[upload["field"]] = InputFile(base64.b64decode(upload["b64"]), filename=upload["filename"])
    return await bot.do_api_request(call["method"], api_kwargs=params)


def _upload(field: str, filename: str, content: bytes) -> dict[str, str]:
    return {"field": field, "filename": filename, "b64": base64.b64encode(content).decode()}


def _calls_one(chat_id: int | str, text: str, r: Reply, markup: dict[str, Any] | None) -> list[Call]:
    media = r.document or r.image or r.photo
    if media is None:
        return _text_calls(chat_id, text, markup)
    caption = text if len(text) <= CAPTION_LIMIT else None
    calls = _text_calls(chat_id, text, None) if caption is None and text else []
    params = {"chat_id": chat_id, "caption": caption, "reply_markup": markup}
    if r.document is not None:
        calls.append(
            {
                "method": "sendDocument",
                "params": params,
                "file": _upload("document", r.document.filename, r.document.content),
            }
        )
    elif r.image is not None:
        calls.append({"method": "sendPhoto", "params": params, "file": _upload("photo", "chart.png", r.image)})
    else:
        calls.append({"method": "sendPhoto", "params": {**params, "photo": r.photo}})
    return calls


def _text_calls(chat_id: int | str, text: str, markup: dict[str, Any] | None) -> list[Call]:
    parts = split_text(text) if text.strip() else []
    return [
        {
            "method": "sendMessage",
            "params": {"chat_id": chat_id, "text": part, "reply_markup": markup if i == len(parts) - 1 else None},
        }
        for i, part in enumerate(parts)
    ]
