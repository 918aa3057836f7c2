"""The Telegram channel: python-telegram-bot's Application around the dialog engine.

It translates and decides nothing: a message or a button press becomes a `Caller` and an
`Input`, the engine answers with replies, and replies become Bot API calls. Callback data is
untrusted: it must be one of the buttons on the message it came from, and the command it runs
re-checks role, community and state in the services. The update id is the request key, so a
redelivered update replays instead of acting twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter, Application, ApplicationBuilder, BaseHandler, BaseRateLimiter, CallbackContext,
    CallbackQueryHandler, ContextTypes, Defaults, ExtBot, MessageHandler, filters,
)
from telegram.request import BaseRequest

from bot.dialogs import Caller, Dialogs, Input, Turn
from bot.dialogs.core import MAX_OPTION_BYTES
from bot.flows.start import LINKS
from bot.i18n import DEFAULT_LOCALE, render
from bot.services import Services
from bot.settings import Settings, SettingsError
from handlers.telegram.menus import Menu, set_menus
from handlers.telegram.notifications import INTERVAL, deliver
from handlers.telegram.replies import send_replies
from handlers.telegram.schedule import schedule_jobs

log = logging.getLogger(__name__)

MISSING_TOKEN = "lovebank: LOVEBANK_TELEGRAM_TOKEN is not set (the bot token from @BotFather)"
GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)
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

def caller_for(update: Update) -> tuple[Caller, int] | None:
    """Who is talking and where to answer; None for updates that are not for us."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or user.is_bot:
        return None
    if chat is not None and chat.type == ChatType.CHANNEL:
        return None
    group = chat is not None and chat.type in GROUPS
    chat_id = chat.id if chat is not None else user.id
    return Caller(
        "telegram", str(user.id), display_name=user.full_name, handle=user.username,
        chat_id=None if group else str(chat_id), group_chat=str(chat_id) if group else None,
    ), chat_id


def addressed_to_us(text: str, username: str) -> bool:
    """In a group only commands count, and only ours: "/help" or "/help@our_bot"."""
    if not text.startswith("/"):
        return False
    _, at, target = text.split(maxsplit=1)[0].partition("@")
    return not at or target.lower() == username.lower()


async def _turn(context: LoveBankContext, caller: Caller, inp: Input) -> Turn:
    turn = await context.dialogs.handle(caller, inp)
    if context.user_data is not None:
        context.user_data["locale"] = turn.locale
    return turn


async def on_message(update: Update, context: LoveBankContext) -> None:
    message, found = update.message, caller_for(update)
    if message is None or found is None:
        return
    caller, chat_id = found
    text = message.text or message.caption or ""
    if caller.group_chat and not addressed_to_us(text, context.bot.username):
        return  # chatter in a group is not for us, and must not enrol everyone who speaks
    contact, location = message.contact, message.location
    inp = Input(
        text=text,
        contact_phone=contact.phone_number if contact else None,
        contact_is_own=contact is None or contact.user_id == update.effective_user.id,  # type: ignore[union-attr]
        location=(location.latitude, location.longitude) if location else None,
        photo=message.photo[-1].file_id if message.photo else None,
        request_key=str(update.update_id),
    )
    turn = await _turn(context, caller, inp)
    await send_replies(context.bot, chat_id, turn.locale, turn.replies, context.chat_data)


def pressed_label(message: Message | None, data: str) -> str | None:
    """The label of the button carrying `data` on `message`, or None if it has no such button."""
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


async def on_button(update: Update, context: LoveBankContext) -> None:
    query, found = update.callback_query, caller_for(update)
    if query is None:
        return
    data = query.data
    message = query.message if isinstance(query.message, Message) else None
    # Any client can send any data: it must fit a button and be on the message it came from
    # (an old message Telegram no longer shows us is left to the services' checks).
    if (not isinstance(data, str) or not data or len(data.encode()) > MAX_OPTION_BYTES
            or (message is not None and pressed_label(message, data) is None) or found is None):
        with suppress(TelegramError):
            await query.answer(render(context.locale, "error.stale_option"))
        return
    caller, chat_id = found
    try:
        turn = await _turn(context, caller, Input(option=data, request_key=str(update.update_id)))
    except Exception:
        with suppress(TelegramError):  # the client stops its spinner even when handling failed
            await query.answer()
        raise
    if turn.press_refused:  # a double tap, an old step's button, someone else's buttons: a toast
        with suppress(TelegramError):
            await query.answer(" ".join(context.dialogs.render(turn.locale, turn.replies)), show_alert=False)
        return
    with suppress(TelegramError):  # the client stops its spinner
        await query.answer()
    if message is not None:
        await _mark_chosen(context, message, data, turn.locale)
    await send_replies(context.bot, chat_id, turn.locale, turn.replies, context.chat_data)


async def _mark_chosen(context: LoveBankContext, message: Message, data: str, locale: str) -> None:
    """The pressed message keeps what was chosen and loses its buttons, so it cannot be pressed
    again by mistake."""
    label = pressed_label(message, data) or ""
    try:
        if message.text:
            text = f"{message.text}\n\n{render(locale, 'telegram.chosen', {'choice': label})}"
            if len(text) <= 4096:
                await context.bot.edit_message_text(text, message.chat.id, message.message_id, reply_markup=None)
                return
        await context.bot.edit_message_reply_markup(message.chat.id, message.message_id, reply_markup=None)
    except TelegramError as exc:  # e.g. "message is not modified" after a double press
        log.debug("could not mark message %s: %s", message.message_id, exc)


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
                   on_message),
    CallbackQueryHandler(on_button),
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
    LINKS["telegram"] = f"https://t.me/{application.bot.username}?start={{code}}"
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


def run(settings: Settings) -> int:
    """`lovebank run`: migrate, then long polling with the job queue until SIGINT/SIGTERM."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        raise SettingsError(MISSING_TOKEN)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # httpx logs every request URL, and the URL carries the token; APScheduler logs every run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    services = asyncio.run(_migrated(settings))
    application = build_application(services, settings)

    async def close(_: Any) -> None:
        await services.db.dispose()

    application.post_shutdown = close
    try:
        application.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
    except InvalidToken:
        raise SettingsError("lovebank: Telegram refused LOVEBANK_TELEGRAM_TOKEN") from None
    except NetworkError as exc:
        raise SettingsError(f"lovebank: cannot reach the Bot API at LOVEBANK_TELEGRAM_API_URL: {exc}") from None
    return 0


async def _migrated(settings: Settings) -> Services:
    from bot.app import open_services

    services = await open_services(settings)
    # Pooled connections belong to this event loop; run_polling opens its own.
    await services.db.dispose()
    return services
