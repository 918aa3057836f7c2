"""The WeChat channel the inbox and outbox workers drive (`bot.pipeline.Channel`).

Handling a stored message: the dialog engine's turn becomes a reply of one or more WeChat
messages (texts split at 2,048 bytes, pictures, files as download links), stored with the inbox
entry in the turn's own transaction — where the person's 48-hour window also reopens and what
waited for them outside it is folded in ("您有 2 条新通知：…"). The webhook answers the first
message passively when the turn is done within about 4 seconds; otherwise (and for the rest)
the reply goes out through the customer-service API.

Delivering a notification: within 48 hours of the person's last message, customer-service
messages; outside it, the template message when LOVEBANK_WECHAT_TEMPLATE_ID is set; otherwise
the notification waits (the identity is marked unreachable until the person writes again, and
then it comes with the answer). WeChat's refusals become outcomes: 45015 (out of the window),
45047 (too many in a row) and 43004 (unfollowed) → Unreachable; no answer → Failed (retried)."""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.dialogs import Dialogs, Turn
from bot.dialogs.core import Reply
from bot.i18n import DEFAULT_LOCALE, T, render
from bot.posters import qr_png
from bot.services import Services
from bot.services.delivery import Failed, Outcome, Sent, Unreachable
from bot.services.downloads import ROUTE
from bot.services.inbox import Entry
from bot.services.outbox import Delivery
from bot.services.reach import left, wrote_within
from bot.services.star_posters import POSTER, draw
from bot.settings import Settings, public_base
from handlers.wechat.api import OUT_OF_WINDOW, TOO_MANY, UNFOLLOWED, WeChatAPI, WeChatError, WeChatUnavailable
from handlers.wechat.inbound import Incoming, incoming
from handlers.wechat.render import Outgoing, render_replies

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
PASSIVE_SECONDS = 4.0  # WeChat waits 5 s for the answer; what takes longer goes out by the API
REST_AFTER = 1.0  # seconds between a passive answer and the rest of a reply of several messages
WAIT_FOR_NEXT = "outside WeChat's 48-hour window: waits for the person's next message"
TEMPLATE_TEXT = 180  # characters of a notification shown in a template message


def outcome_of(exc: WeChatError, parts: int = 0) -> Outcome:
    if exc.code in (OUT_OF_WINDOW, TOO_MANY, UNFOLLOWED):
        return Unreachable(f"WeChat {exc.code}: {exc.message}"[:500], parts)
    if isinstance(exc, WeChatUnavailable) or exc.code in (-1, 45009):  # busy, or the day's API quota
        return Failed(str(exc), parts=parts)
    return Failed(str(exc), final=True, parts=parts)  # the same request would be refused again


class WeChatChannel:
    name = "wechat"

    def __init__(self, services: Services, settings: Settings, api: WeChatAPI) -> None:
        self.services, self.settings, self.api = services, settings, api
        self.dialogs = Dialogs(services)
        self.dialogs.invites.picture = self.invite_picture

    # --- handling a stored message --------------------------------------------------------------

    async def handle(self, entry: Entry, handling: Any) -> None:
        fields: dict[str, Any] = entry.payload.get("xml") or {}
        received = float(entry.payload.get("at") or 0)
        # The webhook waits for the passive answer until then; a worker sends it after that.
        hold = max(0.0, received + PASSIVE_SECONDS - time.time()) + 0.5 if received else None
        openid = entry.sender
        if fields.get("MsgType") == "event" and fields.get("Event") == "unsubscribe":
            def gone(session: Session) -> None:
                handling.settle(session, None)
                left(session, self.services.clock, self.name, openid)

            await self.services.db.run(self.services.db.transaction, gone)
            return
        found = incoming(fields, request_key=f"wechat:{entry.platform_id}")
        if found is None:
            await handling.finish(None)
            return
        if isinstance(found, str):
            await handling.finish({"to": openid, "messages": [{"text": render(DEFAULT_LOCALE, found)}]}, hold=hold)
            return
        await self._turn(found, openid, handling, hold)

    async def _turn(self, found: Incoming, openid: str, handling: Any, hold: float | None) -> None:
        def settle(session: Session, turn: Turn) -> None:
            waiting = self.services.outbox.sync.take_in(session, self.name, turn.person_id)
            replies = list(turn.replies)
            if waiting:
                replies.append(_folded(waiting))
            messages = [self._message(session, turn, m) for m in render_replies(turn.locale, replies)]
            messages += [{"image": _b64(draw(d.text.params[POSTER]))} for d in waiting if POSTER in d.text.params]
            # A picture first cannot be a passive answer (it needs an upload): the worker sends at once.
            passive = hold if messages and "text" in messages[0] else None
            handling.settle(session, {"to": openid, "messages": messages} if messages else None, hold=passive)

        await self.dialogs.handle(found.caller, found.inp, settle=settle)

    def _message(self, session: Session, turn: Turn, out: Outgoing) -> dict[str, str]:
        if out.image is not None:
            return {"image": _b64(out.image)}
        if out.document is None:
            return {"text": out.text or ""}
        base = public_url(self.settings)
        if base is None:
            link = render(turn.locale, "wechat.no_download", {"filename": out.document.filename})
        else:
            secret = self.services.downloads.sync.add(session, turn.person_id, out.document.filename,
                                                       out.document.content)
            link = render(turn.locale, "wechat.download",
                          {"filename": out.document.filename, "url": f"{base}{ROUTE}{secret}"})
        return {"text": f"{out.text}\n\n{link}" if out.text else link}

    # --- sending ---------------------------------------------------------------------------------

    async def send_reply(self, reply: dict[str, Any], start: int) -> Outcome:
        messages = reply.get("messages") or []
        for index in range(start, len(messages)):
            try:
                await self.send(reply["to"], messages[index])
            except WeChatError as exc:
                return outcome_of(exc, index - start)
        return Sent(len(messages) - start)

    async def send(self, openid: str, message: dict[str, str]) -> None:
        if "image" in message:
            media_id = await self.api.upload_image(base64.b64decode(message["image"]))
            await self.api.send_image(openid, media_id)
        else:
            await self.api.send_text(openid, message["text"])

    async def deliver(self, delivery: Delivery) -> Outcome:
        try:
            texts = [o.text for o in render_replies(delivery.locale, [Reply(delivery.text)]) if o.text]
        except (KeyError, ValueError, IndexError) as exc:  # a broken catalogue entry will not mend itself
            return Failed(f"cannot render {delivery.text.key}: {exc}", final=True)
        messages: list[dict[str, str]] = [{"text": t} for t in texts]
        if POSTER in delivery.text.params:
            messages.insert(0, {"image": _b64(draw(delivery.text.params[POSTER]))})
        openid = delivery.address
        if await self.services.db.run(wrote_within, self.services.db, self.services.clock, self.name, openid, WINDOW, reads=True):
            sent = 0
            try:
                for message in messages:
                    await self.send(openid, message)
                    sent += 1
                return Sent(sent)
            except WeChatError as exc:
                if exc.code not in (OUT_OF_WINDOW, TOO_MANY) or sent:
                    return outcome_of(exc, sent)
        template = self.settings.wechat_template_id
        if not template:
            return Unreachable(WAIT_FOR_NEXT)
        text = "\n".join(texts)
        fields = {
            "first": render(delivery.locale, "wechat.template_first"),
            "keyword1": text if len(text) <= TEMPLATE_TEXT else text[:TEMPLATE_TEXT - 1] + "…",
            "keyword2": self.services.clock.now().astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M"),
            "remark": render(delivery.locale, "wechat.template_remark"),
        }
        try:
            await self.api.send_template(openid, template, fields)
        except WeChatError as exc:
            return outcome_of(exc)
        return Sent(1)

    # --- invites ---------------------------------------------------------------------------------

    async def invite_picture(self, code: str) -> bytes | None:
        """A parametric QR code: scanning it follows the account and joins with `code`. When
        WeChat cannot make one now, the invite goes without it (the code works as well)."""
        try:
            qr = await self.api.create_qr(code)
        except WeChatError as exc:
            log.warning("invite QR code not made: %s", exc.code)
            return None
        return qr_png(qr.url)


def _folded(waiting: list[Delivery]) -> Reply:
    lines = []
    for d in waiting:
        text = T(d.text.key, **d.text.params)
        lines.append(T("wechat.pending_line", text=text))
    return Reply(T("wechat.pending_notes", count=sum(d.count for d in waiting), lines=lines))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_url(settings: Settings) -> str | None:
    return public_base(settings)  # the rule lives with the settings (certificates use it too)
