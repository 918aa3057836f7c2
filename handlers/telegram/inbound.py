"""Telegram updates in, Bot API calls out: the channel the inbox and outbox workers drive
(`lovebank serve`, `lovebank run`).

`incoming(update, username, locale)` turns an update into who is talking and what they said
(or a ready answer, or None when it is not for us); `answer_calls` turns the dialog engine's turn
into Bot API calls. `TelegramChannel` implements `bot.runtime.pipeline.Channel`: it handles a stored
update inside the inbox's transaction, sends a stored reply, and delivers notifications, and it
turns Telegram's refusals into outcomes (429 → Retry(retry_after), 403 → Unreachable, no
connection, timeouts, 5xx and a refused token → Down, other errors → Failed).
`sender_of(update)` is the inbox's ordering key: the user, else the chat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest

from bot.dialogs.core import MAX_OPTION_BYTES, Caller, Input
from bot.dialogs.engine import Dialogs, Turn
from bot.kernel.i18n import DEFAULT_LOCALE, render
from bot.messages.delivery import Down, Failed, Outcome, Retry, Sent, Unreachable, short
from bot.messages.inbox import Entry
from bot.messages.outbox import Delivery
from bot.people.flow import CONTACT_STEPS
from bot.services import Services
from bot.stars.posters import POSTER, draw
from handlers.telegram.replies import CAPTION_LIMIT, REPLY_KEYBOARD, Call, reply_calls, send_call

log = logging.getLogger(__name__)

GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)
# How a request that got no answer is worded (no connection, TLS…): by python-telegram-bot's
# HTTPXRequest, and by the workers' transport (handlers.telegram.transport.ERROR_PREFIX).
TRANSPORT_ERRORS = ("httpx.", "Unknown error in HTTP implementation", "transport: ")


class ServerError(NetworkError):
    """Telegram answered 5xx (python-telegram-bot gives 5xx and the odd 4xx the same NetworkError)."""


class StatusRequest(BaseRequest):
    """The Bot API client's requests through `inner`, with a 5xx raised as `ServerError`, so the
    channel can tell Telegram being down from a request Telegram will not take."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await self.inner.do_request(*args, **kwargs)
        if code >= 500:
            try:
                description = str(json.loads(payload).get("description") or "")
            except (ValueError, AttributeError):
                description = ""
            raise ServerError(f"{description or 'Telegram server error'} ({code})")
        return code, payload


@dataclass(frozen=True)
class Incoming:
    caller: Caller
    chat_id: int
    inp: Input
    query_id: str | None = None  # a button press, answered first
    pressed: Message | None = None  # the message whose button was pressed, marked chosen
    data: str | None = None


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
        "telegram",
        str(user.id),
        display_name=user.full_name,
        handle=user.username,
        chat_id=None if group else str(chat_id),
        group_chat=str(chat_id) if group else None,
    ), chat_id


def addressed_to_us(text: str, username: str) -> bool:
    """In a group only commands count, and only ours: "/help" or "/help@our_bot"."""
    if not text.startswith("/"):
        return False
    _, at, target = text.split(maxsplit=1)[0].partition("@")
    return not at or target.lower() == username.lower()


def pressed_label(message: Message | None, data: str) -> str | None:
    """The label of the button carrying `data` on `message`, or None if it has no such button."""
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def incoming(update: Update, username: str, locale: str) -> Incoming | list[Call] | None:
    """What an update asks of the dialog engine; a list of calls when it is answered without a
    turn (a forged or stale button); None when it is not for us."""
    found = caller_for(update)
    message, query = update.message, update.callback_query
    if message is not None and found is not None:
        caller, chat_id = found
        text = message.text or message.caption or ""
        contact, location = message.contact, message.location
        if not (text or contact or location or message.photo):
            return None  # stickers, joins and the like
        if caller.group_chat and not addressed_to_us(text, username):
            return None  # chatter in a group is not for us, and must not enrol everyone who speaks
        return Incoming(
            caller,
            chat_id,
            Input(
                text=text,
                contact_phone=contact.phone_number if contact else None,
                contact_is_own=contact is None or contact.user_id == update.effective_user.id,  # type: ignore[union-attr]
                location=(location.latitude, location.longitude) if location else None,
                photo=message.photo[-1].file_id if message.photo else None,
                request_key=str(update.update_id),
            ),
        )
    if query is None:
        return None
    data = query.data
    pressed = query.message if isinstance(query.message, Message) else None
    # Any client can send any data: it must fit a button and be on the message it came from
    # (an old message Telegram no longer shows us is left to the services' checks).
    if (
        not isinstance(data, str)
        or not data
        or len(data.encode()) > MAX_OPTION_BYTES
        or (pressed is not None and pressed_label(pressed, data) is None)
        or found is None
    ):
        return [answer_query(query.id, render(locale, "error.stale_option"))]
    caller, chat_id = found
    return Incoming(caller, chat_id, Input(option=data, request_key=str(update.update_id)), query.id, pressed, data)


def answer_query(query_id: str, text: str | None = None) -> Call:
    return {"method": "answerCallbackQuery", "params": {"callback_query_id": query_id, "text": text}, "optional": True}


def chosen_call(message: Message, data: str, locale: str) -> Call:
    """The pressed message keeps what was chosen and loses its buttons, so it cannot be pressed
    again by mistake."""
    label = pressed_label(message, data) or ""
    where = {"chat_id": message.chat.id, "message_id": message.message_id}
    if message.text:
        text = f"{message.text}\n\n{render(locale, 'telegram.chosen', {'choice': label})}"
        if len(text) <= 4096:
            return {"method": "editMessageText", "params": {**where, "text": text}, "optional": True}
    return {"method": "editMessageReplyMarkup", "params": where, "optional": True}


def answer_calls(
    found: Incoming, turn: Turn, chat_data: MutableMapping[Any, Any] | None, dialogs: Dialogs
) -> list[Call]:
    """A press is answered first (the client stops its spinner); a press the engine refused (a
    double tap, an old step's button, someone else's buttons) only gets a toast and leaves the
    message alone; a press that counts marks its message chosen."""
    if found.query_id is not None and turn.press_refused:
        return [answer_query(found.query_id, " ".join(dialogs.render(turn.locale, turn.replies)))]
    calls: list[Call] = []
    if found.query_id is not None:
        calls.append(answer_query(found.query_id))
    if found.pressed is not None and found.data is not None:
        calls.append(chosen_call(found.pressed, found.data, turn.locale))
    return calls + reply_calls(found.chat_id, turn.locale, turn.replies, chat_data)


def sender_of(payload: dict[str, Any]) -> str:
    """The inbox's ordering key for an update: the person, else the chat."""
    for kind in (
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "channel_post",
        "inline_query",
        "chosen_inline_result",
        "pre_checkout_query",
        "shipping_query",
    ):
        body = payload.get(kind)
        if isinstance(body, dict):
            user = body.get("from")
            if isinstance(user, dict) and "id" in user:
                return str(user["id"])
            chat = body.get("chat")
            if isinstance(chat, dict) and "id" in chat:
                return f"chat:{chat['id']}"
    return "-"


def outcome_of(exc: TelegramError, parts: int = 0) -> Outcome:
    if isinstance(exc, RetryAfter):
        after = exc.retry_after
        return Retry(after.total_seconds() if hasattr(after, "total_seconds") else float(after), parts)
    if isinstance(exc, Forbidden):
        return Unreachable(short(exc), parts)
    if isinstance(exc, BadRequest):
        if "chat not found" in str(exc).lower():
            return Unreachable(short(exc), parts)
        return Failed(short(exc), final=True, parts=parts)  # the same request would fail again
    # Timeouts, no connection, 5xx, the token refused (do_api_request words a 401 or 404 as
    # "endpoint not found"): not this message's fault; the channel pauses.
    if isinstance(exc, (InvalidToken, EndPointNotFound, TimedOut, ServerError)) or str(exc).startswith(
        TRANSPORT_ERRORS
    ):
        return Down(short(exc), parts)
    return Failed(short(exc), parts=parts)


class TelegramChannel:
    """`bot.runtime.pipeline.Channel` for Telegram."""

    name = "telegram"

    def __init__(self, services: Services, bot: Any) -> None:
        self.services, self.bot = services, bot
        self.dialogs = Dialogs(services)

    async def handle(self, entry: Entry, handling: Any) -> None:
        update = Update.de_json(entry.payload, self.bot)
        user = update.effective_user
        hint = "en" if user is not None and (user.language_code or "").startswith("en") else DEFAULT_LOCALE
        found = incoming(update, self.bot.username, hint)
        if found is None or isinstance(found, list):
            await handling.finish({"calls": found} if found else None)
            return

        def reply_to(turn: Turn) -> dict[str, Any]:
            # The contact button has done its job once the step that showed it is answered.
            showing = found.inp.contact_phone or turn.left in CONTACT_STEPS
            chat_data = {REPLY_KEYBOARD: True} if showing else None
            return {"calls": answer_calls(found, turn, chat_data, self.dialogs)}

        def settle(session: Any, turn: Turn) -> None:
            handling.settle(session, reply_to(turn))

        await self.dialogs.handle(
            found.caller,
            found.inp,
            settle=settle,
            attach=handling.attach,
            settle_later=lambda turn, then: handling.settle_later(reply_to(turn), then),
        )

    def apology(self, entry: Entry) -> dict[str, Any] | None:
        update = Update.de_json(entry.payload, self.bot)
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return None
        locale = "en" if user is not None and (user.language_code or "").startswith("en") else DEFAULT_LOCALE
        return {
            "calls": [
                {
                    "method": "sendMessage",
                    "params": {"chat_id": chat.id, "text": render(locale, "error.something_wrong")},
                }
            ]
        }

    async def send_reply(self, reply: dict[str, Any], start: int) -> Outcome:
        calls = reply.get("calls") or []
        for index in range(start, len(calls)):
            call = calls[index]
            try:
                await send_call(self.bot, call)
            except TelegramError as exc:
                if call.get("optional") and not isinstance(exc, RetryAfter):
                    log.debug("%s not done: %s", call["method"], exc)
                    continue
                return outcome_of(exc, index - start)
        return Sent(len(calls) - start)

    async def deliver(self, delivery: Delivery) -> Outcome:
        try:
            text = render(delivery.locale, delivery.text.key, delivery.text.params)
        except (KeyError, ValueError, IndexError) as exc:  # a broken catalogue entry will not mend itself
            return Failed(f"cannot render {delivery.text.key}: {exc}", final=True)
        try:
            poster = POSTER in delivery.text.params  # a star list: the poster, with the text as its caption
            caption = text if poster and len(text) <= CAPTION_LIMIT else None
            if poster:
                await self.bot.send_photo(delivery.address, draw(delivery.text.params[POSTER]), caption=caption)
            if caption is None:
                await send_call(
                    self.bot, {"method": "sendMessage", "params": {"chat_id": delivery.address, "text": text}}
                )
        except TelegramError as exc:
            return outcome_of(exc)
        return Sent(1)
