"""Replies → Bot API calls: text in the person's language, options as inline keyboards, the
contact-share reply keyboard, documents and photos."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from telegram import (
    Bot, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove,
)
from telegram.constants import MessageLimit

from bot.dialogs.core import MAX_OPTION_BYTES, Reply
from bot.i18n import render

# chat_data flag: a reply keyboard (contact share) is showing and goes with the next plain reply.
REPLY_KEYBOARD = "reply_keyboard"
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def inline_keyboard(locale: str, r: Reply) -> InlineKeyboardMarkup | None:
    if not r.options:
        return None
    buttons = []
    for o in r.options:
        if len(o.value.encode()) > MAX_OPTION_BYTES:  # Option refuses these; never send a broken button
            raise ValueError(f"callback data over {MAX_OPTION_BYTES} bytes: {o.value!r}")
        buttons.append(InlineKeyboardButton(render(locale, o.label.key, o.label.params), callback_data=o.value))
    width = max(r.columns, 1)
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def contact_keyboard(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(render(locale, "telegram.share_contact"), request_contact=True)]],
        one_time_keyboard=True, resize_keyboard=True,
    )


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


async def send_replies(bot: Bot, chat_id: int | str, locale: str, replies: list[Reply],
                       chat_data: MutableMapping[Any, Any] | None) -> None:
    state = chat_data if chat_data is not None else {}
    for r in replies:
        text = render(locale, r.text.key, r.text.params)
        markup: Markup | None = inline_keyboard(locale, r)
        if r.request_contact:
            markup = contact_keyboard(locale)
            state[REPLY_KEYBOARD] = True
        elif markup is None and state.pop(REPLY_KEYBOARD, False):
            markup = ReplyKeyboardRemove()  # the contact button has done its job
        await _send_one(bot, chat_id, text, r, markup)


async def _send_one(bot: Bot, chat_id: int | str, text: str, r: Reply, markup: Markup | None) -> None:
    media = r.document or r.image or r.photo
    if media is not None:
        caption = text if len(text) <= CAPTION_LIMIT else None
        if caption is None and text:
            await _send_text(bot, chat_id, text, None)
        if r.document is not None:
            await bot.send_document(chat_id, r.document.content, filename=r.document.filename, caption=caption,
                                    reply_markup=markup)
        else:
            await bot.send_photo(chat_id, r.image if r.image is not None else r.photo, caption=caption,
                                 reply_markup=markup)
        return
    await _send_text(bot, chat_id, text, markup)


async def _send_text(bot: Bot, chat_id: int | str, text: str, markup: Markup | None) -> None:
    parts = split_text(text) if text.strip() else []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await bot.send_message(chat_id, part, reply_markup=markup if last else None)
