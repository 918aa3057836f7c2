"""Operator commands for the WeChat channel: `lovebank wechat menu`, `lovebank wechat templates`,
`lovebank invite-poster --community NAME -o FILE` and `lovebank print cards … -o FILE` (door
cards, whose QR codes are WeChat's parametric codes or Telegram deep links)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.kernel.errors import DomainError
from bot.kernel.i18n import render
from bot.kernel.settings import Settings, SettingsError
from bot.services import Services
from bot.stars.drawing import QRPanel, invite_poster
from bot.visits.cards import Card, cards_pdf
from handlers.wechat import templates as mapping
from handlers.wechat.api import WeChatAPI, WeChatError
from handlers.wechat.menu import MENU, check_menu
from handlers.wechat.tokens import TokenStore


def say(settings: Settings, key: str, *, error: bool = False, **params: object) -> None:
    """One line to the operator in their language (LOVEBANK_LOCALE)."""
    line = render(settings.locale, key, params)
    print(f"lovebank: {line}" if error else line, file=sys.stderr if error else sys.stdout)


def wechat_configured(settings: Settings) -> bool:
    return bool(
        settings.wechat_app_id and settings.wechat_app_secret and settings.wechat_app_secret.get_secret_value().strip()
    )


async def create_menu(services: Services, settings: Settings) -> int:
    problems = check_menu(MENU)
    if problems:  # a programming error, caught by the tests; never send WeChat a broken menu
        say(settings, "wechat.cli.menu_limits", error=True, problems="; ".join(problems))
        return 1
    if not wechat_configured(settings):
        say(settings, "wechat.cli.need_app", error=True)
        return 2
    api = WeChatAPI(settings, TokenStore(services.db, services.clock))
    try:
        await api.create_menu(MENU)
    except WeChatError as exc:
        say(settings, "wechat.cli.menu_refused", error=True, code=exc.code, reason=exc.message)
        return 1
    finally:
        await api.close()
    say(settings, "wechat.cli.menu_created", buttons=" | ".join(b["name"] for b in MENU["button"]))
    return 0


async def check_templates(services: Services, settings: Settings) -> int:
    """The account's templates, and the mapping of LOVEBANK_WECHAT_TEMPLATES checked against
    them: 0 when every configured kind fits its template, 1 when something does not."""
    try:
        configured = mapping.load(settings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)  # already one line naming the setting
        return 2
    if not wechat_configured(settings):
        say(settings, "wechat.cli.need_app", error=True)
        return 2
    api = WeChatAPI(settings, TokenStore(services.db, services.clock))
    try:
        account = await api.private_templates()
    except WeChatError as exc:
        say(settings, "wechat.cli.templates.refused", error=True, code=exc.code, reason=exc.message)
        return 1
    finally:
        await api.close()
    say(settings, "wechat.cli.templates.account", count=len(account))
    for found in account:
        say(
            settings,
            "wechat.cli.templates.line",
            id=found.get("template_id", ""),
            title=found.get("title", ""),
            fields=", ".join(mapping.content_fields(str(found.get("content", "")))),
        )
    if not configured:
        say(settings, "wechat.cli.templates.none_configured")
        return 0
    problems = mapping.check(configured, account)
    troubled = {params["kind"] for _, params in problems}
    for kind in mapping.KINDS:
        if kind not in configured:
            say(settings, "wechat.cli.templates.kind_held", kind=kind)
        elif kind not in troubled:
            template = configured[kind]
            say(
                settings,
                "wechat.cli.templates.kind_ok",
                kind=kind,
                id=template.template_id,
                fields=", ".join(f"{name} = {value}" for name, value in template.fields.items()),
            )
    for key, params in problems:
        say(settings, key, **params)
    if problems:
        say(settings, "wechat.cli.templates.problems", error=True, count=len(problems))
        return 1
    say(settings, "wechat.cli.templates.all_ok")
    return 0


async def telegram_username(settings: Settings) -> str:
    from telegram import Bot

    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    async with Bot(token, base_url=settings.telegram_api_url.rstrip("/")) as bot:
        return bot.username


class LinkFailed(Exception):
    """The platform could not give a door card's link: the catalogue key saying why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


async def invite_panels(services: Services, settings: Settings, code: str, locale: str) -> list[QRPanel]:
    """The join QR codes an invite poster carries (for `lovebank invite-poster` and the desk's
    print page): WeChat's permanent parametric code when WeChat is configured (a poster stays
    up), the Telegram deep link when Telegram is. LinkFailed when a platform fails."""
    panels: list[QRPanel] = []
    if wechat_configured(settings):
        api = WeChatAPI(settings, TokenStore(services.db, services.clock))
        try:
            qr = await api.create_qr(code, permanent=True)
        except WeChatError as exc:
            raise LinkFailed("wechat.cli.qr_failed", code=exc.code, reason=exc.message) from exc
        finally:
            await api.close()
        panels.append(QRPanel(render(locale, "poster.wechat"), qr.url))
    if settings.telegram_token is not None and settings.telegram_token.get_secret_value().strip():
        try:
            username = await telegram_username(settings)
        except Exception as exc:  # any failure of the Bot API is told in one line
            raise LinkFailed("wechat.cli.telegram_failed", reason=type(exc).__name__) from exc
        panels.append(QRPanel(render(locale, "poster.telegram"), f"https://t.me/{username}?start={code}"))
    return panels


async def make_invite_poster(services: Services, settings: Settings, community: str | None, output: str) -> int:
    locale = settings.locale
    try:
        community_id = await services.run(services.visits.roster.community_named, community)
    except DomainError as exc:
        say(settings, exc.key, error=True, **exc.params)
        return 2
    name = await services.run(services.people.community_name, community_id)
    code = await services.run(services.people.create_invite, None, community_id)
    try:
        panels = await invite_panels(services, settings, code, locale)
    except LinkFailed as exc:
        say(settings, exc.key, error=True, **exc.params)
        return 1
    picture = invite_poster(
        render(locale, "poster.title", {"community": name}),
        [render(locale, "poster.line"), render(locale, "poster.code", {"code": code})],
        panels,
        render(locale, "poster.footer"),
    )
    try:
        Path(output).write_bytes(picture)
    except OSError as exc:
        say(settings, "wechat.cli.cannot_write", error=True, path=output, reason=exc.strerror or exc)
        return 1
    say(settings, "wechat.cli.poster_written", path=output, community=name, code=code, count=len(panels))
    return 0


async def card_links(services: Services, settings: Settings, cards: list[Card]) -> list[Card]:
    """What printed door cards' QR codes open (for `lovebank print cards` and the desk's print
    page): WeChat's permanent parametric code when WeChat is configured, else the Telegram deep
    link, else nothing (the card shows the token to type). LinkFailed when the platform fails."""
    if wechat_configured(settings):
        api = WeChatAPI(settings, TokenStore(services.db, services.clock))
        try:
            return [replace(c, url=(await api.create_qr(c.token, permanent=True)).url) for c in cards]
        except WeChatError as exc:
            raise LinkFailed("wechat.cli.qr_failed", code=exc.code, reason=exc.message) from exc
        finally:
            await api.close()
    if settings.telegram_token is not None and settings.telegram_token.get_secret_value().strip():
        try:
            username = await telegram_username(settings)
        except Exception as exc:  # any failure of the Bot API is told in one line
            raise LinkFailed("wechat.cli.telegram_failed", reason=type(exc).__name__) from exc
        return [replace(c, url=f"https://t.me/{username}?start={c.token}") for c in cards]
    return cards


async def make_door_cards(
    services: Services, settings: Settings, community: str | None, grid: str | None, output: str
) -> int:
    """`lovebank print cards`: one A6 page per active elder of the community (or of one grid),
    each a new card generation (the cards they replace stop working). The QR code is WeChat's
    permanent parametric code when WeChat is configured, else the Telegram deep link, else the
    token to type (`/checkin TOKEN`)."""
    try:
        community_id = await services.run(services.visits.roster.community_named, community)
        cards = await services.run(services.checkins.print_cards, None, community_id, grid=grid)
    except DomainError as exc:
        say(settings, exc.key, error=True, **exc.params)
        return 2
    try:
        cards = await card_links(services, settings, cards)
    except LinkFailed as exc:
        say(settings, exc.key, error=True, **exc.params)
        return 1
    content = await asyncio.to_thread(cards_pdf, cards)
    try:
        Path(output).write_bytes(content)
    except OSError as exc:
        say(settings, "wechat.cli.cannot_write", error=True, path=output, reason=exc.strerror or exc)
        return 1
    say(settings, "cards.cli.written", path=output, count=len(cards), community=cards[0].community)
    return 0
