"""The Telegram channel in one process: python-telegram-bot's Application around the dialog
engine, answering each update at once (tests and benchmarks drive it; `lovebank serve` and
`lovebank run` go through the inbox with the same translation, handlers/telegram/inbound.py).

It translates and decides nothing: a message or a button press becomes a `Caller` and an
`Input`, the engine answers with replies, and replies become Bot API calls. Callback data is
untrusted: it must be one of the buttons on the message it came from, and the command it runs
re-checks role, community and state in the services. The update id is the request key, so a
redelivered update replays instead of acting twice.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter, Application, ApplicationBuilder, BaseHandler, BaseRateLimiter, CallbackContext,
    CallbackQueryHandler, ContextTypes, Defaults, ExtBot, MessageHandler, filters,
)
from telegram.request import BaseRequest

from bot.dialogs import Dialogs
from bot.i18n import DEFAULT_LOCALE, render
from bot.services import Services
from bot.settings import Settings, SettingsError
from handlers.telegram.inbound import answer_calls, incoming, send_calls
from handlers.telegram.menus import Menu, set_menus
from handlers.telegram.notifications import INTERVAL, deliver
from handlers.telegram.schedule import schedule_jobs

log = logging.getLogger(__name__)

MISSING_TOKEN = "lovebank: LOVEBANK_TELEGRAM_TOKEN is not set (the bot token from @BotFather)"
MENU_REFRESH = 3600  # seconds; newly appointed workers get their menu within the hour


class Runtime:
    """What every callback needs, kept as the application's bot_data (PTB's contexttypesbot)."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.dialogs: Dialogs | None = None
        self.menus: dict[str, Menu] = {}  # scope → menu as last set, to send only changes


class LoveBankContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], Runtime]):
    @property
    def services(self) -> Services:
        assert self.bot_data.services is not None, "build_application sets the services"
        return self.bot_data.services

    @property
    def dialogs(self) -> Dialogs:
        assert self.bot_data.dialogs is not None, "build_application sets the dialogs"
        return self.bot_data.dialogs

    @property
    def locale(self) -> str:
        """The person's language as last seen, for texts sent outside a turn."""
        return (self.user_data or {}).get("locale", DEFAULT_LOCALE)


CONTEXT_TYPES = ContextTypes(context=LoveBankContext, bot_data=Runtime)


# --- updates → the dialog engine -------------------------------------------------------------

async def on_update(update: Update, context: LoveBankContext) -> None:
    """A message or a button press, answered at once (the in-process Application; `lovebank
    serve` and `lovebank run` go through the inbox instead, with the same translation)."""
    found = incoming(update, context.bot.username, context.locale)
    if found is None:
        return
    if isinstance(found, list):
        await send_calls(context.bot, found)
        return
    try:
        turn = await context.dialogs.handle(found.caller, found.inp)
    except Exception:
        if found.query_id is not None:
            with suppress(TelegramError):  # the client stops its spinner even when handling failed
                await context.bot.answer_callback_query(found.query_id)
        raise
    if context.user_data is not None:
        context.user_data["locale"] = turn.locale
    await send_calls(context.bot, answer_calls(found, turn, context.chat_data, context.dialogs))


async def on_error(update: object, context: LoveBankContext) -> None:
    """Tell the person something went wrong, in their language; log the rest."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(update.effective_chat.id, render(context.locale, "error.something_wrong"))
    except TelegramError as exc:
        log.warning("could not tell chat %s about the error: %s", update.effective_chat.id, exc)


HANDLERS: list[BaseHandler[Update, LoveBankContext, None]] = [
    MessageHandler(filters.UpdateType.MESSAGE & (filters.TEXT | filters.CONTACT | filters.LOCATION | filters.PHOTO),
                   on_update),
    CallbackQueryHandler(on_update),
]


# --- jobs: notifications, menus, scheduled work ----------------------------------------------

async def pump_notifications(context: LoveBankContext) -> None:
    try:
        await deliver(context.bot, context.services)
    except Exception:  # the database may be away for a moment; the next run tries again
        log.exception("notifications pump failed")


async def refresh_menus(context: LoveBankContext) -> None:
    await _set_menus(context.application)  # type: ignore[arg-type]


async def _set_menus(application: Application[Any, LoveBankContext, Any, Any, Runtime, Any]) -> None:
    try:
        await set_menus(application.bot, application.bot_data.services, application.bot_data.menus)  # type: ignore[arg-type]
    except Exception:
        log.exception("command menus not set")


async def on_startup(application: Application[Any, LoveBankContext, Any, Any, Runtime, Any]) -> None:
    """post_init: the bot knows its username now."""
    application.bot_data.dialogs.invites.link = f"https://t.me/{application.bot.username}?start={{code}}"  # type: ignore[union-attr]
    log.info("Telegram bot @%s is up", application.bot.username)
    await _set_menus(application)


# --- building and running --------------------------------------------------------------------

def file_api_url(api_url: str) -> str:
    """https://api.telegram.org/bot → https://api.telegram.org/file/bot (same for a local server)."""
    base, sep, last = api_url.rstrip("/").rpartition("/")
    return f"{base}/file/{last}" if sep else f"{api_url}/file"


def build_application(
    services: Services, settings: Settings, *, request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None, rate_limiter: BaseRateLimiter[Any] | None = None,
) -> Application[Any, LoveBankContext, Any, Any, Runtime, Any]:
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise SettingsError(MISSING_TOKEN)
    api = settings.telegram_api_url.rstrip("/")
    builder = (
        ApplicationBuilder().token(token).base_url(api).base_file_url(file_api_url(api))
        .context_types(CONTEXT_TYPES).defaults(Defaults(tzinfo=settings.tz))
        .rate_limiter(rate_limiter if rate_limiter is not None else AIORateLimiter())
        .post_init(on_startup)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    application.bot_data.services = services
    application.bot_data.dialogs = Dialogs(services)
    application.add_handlers(HANDLERS)
    application.add_error_handler(on_error)
    queue = application.job_queue
    assert queue is not None, "python-telegram-bot[job-queue] is a dependency"
    once_at_a_time = {"max_instances": 1, "coalesce": True}
    queue.run_repeating(pump_notifications, interval=INTERVAL, first=INTERVAL, name="notifications",
                        job_kwargs=once_at_a_time)
    queue.run_repeating(refresh_menus, interval=MENU_REFRESH, first=MENU_REFRESH, name="menus",
                        job_kwargs=once_at_a_time)
    schedule_jobs(queue, settings.tz)
    return application
