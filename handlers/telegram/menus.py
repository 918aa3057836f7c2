"""Command menus (the "/" button): setMyCommands per role and language, from the catalogue.

Everyone gets the volunteer's menu in the default scope, in Chinese and (for English clients)
in English; workers and admins get their own menu in their private chat, in their language.
A failure here only costs the menu, so it is logged and the bot carries on."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.constants import BotCommandLimit
from telegram.error import TelegramError

from bot.dialogs.flows import TABLE
from bot.kernel.access import has_role
from bot.kernel.i18n import DEFAULT_LOCALE, render
from bot.services import Services

log = logging.getLogger(__name__)

# The languages Telegram clients report, for the default-scope menus.
CLIENT_LANGUAGES = {"en": "en"}
Menu = tuple[tuple[str, str], ...]


def description(locale: str, help_key: str) -> str:
    """ "/reject H12 理由 — 驳回服务记录" → "驳回服务记录"."""
    text = render(locale, help_key)
    _, dash, rest = text.partition(" — ")
    text = (rest if dash else text).strip()
    return text[: BotCommandLimit.MAX_DESCRIPTION]


def menu(locale: str, *, role: str | None, is_admin: bool = False) -> Menu:
    """The commands a role may use and /help lists, in the table's order."""
    return tuple(
        (spec.name, description(locale, spec.help_key))
        for spec in TABLE.commands.values()
        if spec.help_key
        and (not spec.admin_only or is_admin)
        and (spec.role is None or has_role(is_admin, role, spec.role))
        and not (spec.name == "start" and role is not None)  # members have joined already
    )


def _commands(items: Menu) -> list[BotCommand]:
    return [BotCommand(name, desc) for name, desc in items]


async def set_menus(bot: Bot, services: Services, shown: MutableMapping[str, Menu]) -> None:
    """Set what changed since the last call (`shown`: scope → menu as last set)."""
    default_locale = services.settings.locale or DEFAULT_LOCALE
    wanted: dict[str, tuple[Menu, BotCommandScopeDefault | BotCommandScopeChat, str | None]] = {
        "default": (menu(default_locale, role="volunteer"), BotCommandScopeDefault(), None),
    }
    for language, locale in CLIENT_LANGUAGES.items():
        wanted[f"default:{language}"] = (menu(locale, role="volunteer"), BotCommandScopeDefault(), language)
    try:
        staff = await services.run(services.people.staff_chats, "telegram")
    except Exception:  # the database is not the menu's business; try again next time
        log.exception("could not list the staff chats for their menus")
        staff = []
    for chat in staff:
        if not chat.chat_id.lstrip("-").isdigit():
            continue
        wanted[f"chat:{chat.chat_id}"] = (
            menu(chat.locale, role=chat.role, is_admin=chat.is_admin),
            BotCommandScopeChat(int(chat.chat_id)),
            None,
        )
    for key, (items, scope, language_code) in wanted.items():
        if shown.get(key) == items:
            continue
        try:
            await bot.set_my_commands(_commands(items), scope=scope, language_code=language_code)
            shown[key] = items
        except TelegramError as exc:
            log.warning("setMyCommands for %s failed: %s", key, exc)
    for key in [k for k in shown if k.startswith("chat:") and k not in wanted]:
        try:  # no longer staff: back to the default menu
            await bot.delete_my_commands(scope=BotCommandScopeChat(int(key.split(":", 1)[1])))
            del shown[key]
        except TelegramError as exc:
            log.warning("deleteMyCommands for %s failed: %s", key, exc)
