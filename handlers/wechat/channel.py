"""The WeChat channel the inbox and outbox workers drive (`bot.runtime.pipeline.Channel`).

Handling a stored message: the dialog engine's turn becomes a reply of one or more WeChat
messages (texts split at 2,048 bytes, pictures, files as download links), stored with the inbox
entry in the turn's own transaction — where the person's 48-hour window also reopens and what
waited for them outside it is folded in ("您有 2 条新通知：…"). The webhook answers the first
message passively when the turn is done within about 4 seconds; otherwise (and for the rest)
the reply goes out through the customer-service API.

Delivering notifications: what waits for one person is planned together within WeChat's
budget (`handlers.wechat.budget`: counted per person in the database, opened by each message or
event): folded into as few customer-service messages as fit, most important first. Past the
budget a notification goes as the template mapped for its kind (LOVEBANK_WECHAT_TEMPLATES,
`handlers.wechat.templates`), or is held (`Held`) and folded into the answer to the person's next
message; WeChat's own 45047 is taken the same way, never parked. Outside the 48-hour window
(45015) without a template, or unfollowed (43004): Unreachable, waiting for the person's next
message too. No answer, 5xx, busy, the day's quota or refused credentials → Down (the channel
pauses behind its breaker); the rest → Failed (parked)."""

from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from bot.dialogs.core import Later, Reply
from bot.dialogs.engine import Dialogs, Turn
from bot.kernel.clock import in_zone
from bot.kernel.i18n import DEFAULT_LOCALE, T, render
from bot.kernel.later import is_placeholder_b64
from bot.kernel.settings import Settings, public_base
from bot.messages.delivery import Down, Failed, Held, Outcome, Sent, Unreachable
from bot.messages.downloads import ROUTE
from bot.messages.inbox import Entry
from bot.messages.outbox import Delivery
from bot.messages.reach import left, wrote_within
from bot.runtime import metrics
from bot.services import Services
from bot.stars.drawing import qr_png
from bot.stars.posters import POSTER, draw
from handlers.wechat import templates as template_settings
from handlers.wechat.api import OUT_OF_WINDOW, TOO_MANY, UNFOLLOWED, WeChatAPI, WeChatError, WeChatUnavailable
from handlers.wechat.budget import RESERVE, Unit, fold, opening, priority
from handlers.wechat.inbound import Incoming, incoming
from handlers.wechat.render import Outgoing, render_replies
from handlers.wechat.templates import KIND_OF, fill, values

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
PASSIVE_SECONDS = 4.0  # WeChat waits 5 s for the answer; what takes longer goes out by the API
REST_AFTER = 1.0  # seconds between a passive answer and the rest of a reply of several messages
# A message stored a little before the window was looked at may not have been visible yet: any
# message since then reopens it (one that was visible kept the window open, so this never loops).
STILL_ARRIVING = timedelta(minutes=1)
WAIT_FOR_NEXT = "outside WeChat's 48-hour window: waits for the person's next message"
# Refusals about the account, not the message: busy (-1), the day's API quota (45009), the AppID
# or AppSecret (40013, 40125), the server's IP not on the account's whitelist (40164), a token
# refused even after a refresh (40001). The channel pauses until WeChat answers again.
PLATFORM_DOWN = (-1, 45009, 40013, 40125, 40164, 40001)
HELD = "WeChat's message budget for this person is spent: waits for their next message"
MAX_FOLD = 100  # notifications of one person planned together


def outcome_of(exc: WeChatError, parts: int = 0) -> Outcome:
    if exc.code in (OUT_OF_WINDOW, TOO_MANY, UNFOLLOWED):
        return Unreachable(f"WeChat {exc.code}: {exc.message}"[:500], parts)
    if isinstance(exc, WeChatUnavailable) or exc.code in PLATFORM_DOWN:  # nothing to do with this message
        return Down(str(exc)[:500], parts)
    return Failed(str(exc), final=True, parts=parts)  # the same request would be refused again


class WeChatChannel:
    name = "wechat"

    def __init__(self, services: Services, settings: Settings, api: WeChatAPI) -> None:
        self.services, self.settings, self.api = services, settings, api
        self.templates = template_settings.load(settings)
        self.dialogs = Dialogs(services)
        self.dialogs.invites.picture = self.invite_picture
        self.dialogs.invites.scan_url = self.scan_url

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
        allowance = opening(fields, self.settings.wechat_cs_budget)
        if found is None or isinstance(found, str):
            reply = None if found is None else {"to": openid, "messages": [{"text": render(DEFAULT_LOCALE, found)}]}

            def finish(session: Session) -> None:
                self._open(session, openid, allowance)
                handling.settle(session, reply, hold=hold if reply else None)

            await self.services.db.run(self.services.db.transaction, finish)
            return
        await self._turn(found, openid, handling, hold, allowance)

    def _open(self, session: Session, openid: str, allowance: tuple[str, int, float] | None) -> None:
        """The person's message or event lets the account write back again (WeChat's budget)."""
        if allowance is not None:
            self.services.budgets.open(session, self.name, openid, *allowance)

    async def _turn(
        self, found: Incoming, openid: str, handling: Any, hold: float | None, allowance: tuple[str, int, float] | None
    ) -> None:
        def settle(session: Session, turn: Turn) -> None:
            self._open(session, openid, allowance)
            waiting = self.services.outbox.take_in(session, self.name, turn.person_id)
            replies = list(turn.replies)
            if waiting:
                replies.append(_folded(waiting))
            messages = [self._message(session, turn, m) for m in render_replies(turn.locale, replies)]
            # Posters are drawn after the commit (a placeholder until then), not in the transaction.
            messages += [
                {"image": _b64(turn.deferred.add(Later(partial(draw, d.text.params[POSTER]))))}
                for d in waiting
                if POSTER in d.text.params
            ]
            # A picture first cannot be a passive answer (it needs an upload): the worker sends at once.
            # Nor can a reply whose picture is still to be drawn: held for the webhook, it could be
            # claimed and sent without it; the worker sends it once the picture is in.
            drawing = any(is_placeholder_b64(m.get("image", "")) for m in messages)
            passive = hold if messages and "text" in messages[0] and not drawing else None
            handling.settle(session, {"to": openid, "messages": messages} if messages else None, hold=passive)

        await self.dialogs.handle(found.caller, found.inp, settle=settle, attach=handling.attach)

    def _message(self, session: Session, turn: Turn, out: Outgoing) -> dict[str, str]:
        if out.image is not None:
            return {"image": _b64(out.image)}
        if out.document is None:
            return {"text": out.text or ""}
        base = public_url(self.settings)
        if base is None:
            link = render(turn.locale, "wechat.no_download", {"filename": out.document.filename})
        else:
            secret = self.services.downloads.add(session, turn.person_id, out.document.filename, out.document.content)
            link = render(
                turn.locale, "wechat.download", {"filename": out.document.filename, "url": f"{base}{ROUTE}{secret}"}
            )
        return {"text": f"{out.text}\n\n{link}" if out.text else link}

    # --- sending ---------------------------------------------------------------------------------

    async def send_reply(self, reply: dict[str, Any], start: int) -> Outcome:
        messages = reply.get("messages") or []
        for index in range(start, len(messages)):
            # The answer's pushed messages count against the budget its message opened.
            await self.services.run(self.services.budgets.spend, self.name, reply["to"])
            try:
                await self.send(reply["to"], messages[index])
            except WeChatError as exc:
                return outcome_of(exc, index - start)
        return Sent(len(messages) - start)

    async def send(self, openid: str, message: dict[str, str]) -> None:
        if "image" in message and is_placeholder_b64(message["image"]):
            return  # a picture never made (a crash after the turn): left out
        if "image" in message:
            media_id = await self.api.upload_image(base64.b64decode(message["image"]))
            await self.api.send_image(openid, media_id)
        else:
            await self.api.send_text(openid, message["text"])

    async def deliver(self, delivery: Delivery) -> Outcome:
        [(_, outcome)] = await self._plan([delivery])
        return outcome

    async def deliver_all(
        self, deliveries: list[Delivery], worker: str, lease: float
    ) -> list[tuple[Delivery, Outcome]]:
        """One person's notifications together, with everything else waiting for them (claimed
        now): planned within their budget (`handlers.wechat.budget`)."""
        person = deliveries[0].person_id
        if person is None or any(d.person_id != person for d in deliveries):
            return [(d, await self.deliver(d)) for d in deliveries]
        more = await self.services.run(
            self.services.outbox.claim, self.name, worker, limit=MAX_FOLD, lease=lease, person_id=person
        )
        return await self._plan([*deliveries, *more])

    async def _plan(self, deliveries: list[Delivery]) -> list[tuple[Delivery, Outcome]]:
        results: list[tuple[Delivery, Outcome]] = []
        units: list[Unit] = []
        for delivery in deliveries:
            try:
                texts = [o.text for o in render_replies(delivery.locale, [Reply(delivery.text)]) if o.text]
            except (KeyError, ValueError, IndexError) as exc:  # a broken catalogue entry will not mend itself
                results.append((delivery, Failed(f"cannot render {delivery.text.key}: {exc}", final=True)))
                continue
            poster = delivery.text.params.get(POSTER)
            if not texts and poster is None:
                results.append((delivery, Sent(via="message")))  # nothing to say
                continue
            units.append(Unit(delivery, texts, _b64(draw(poster)) if poster is not None else None))
        if not units:
            return results
        openid = units[0].delivery.address
        budgets = self.services.budgets
        pending = list(units)
        looked = self.services.clock.now() - STILL_ARRIVING
        in_window = await self.services.db.run_read(
            wrote_within, self.services.db, self.services.clock, self.name, openid, WINDOW
        )
        if in_window:
            left = await self.services.run(budgets.remaining, self.name, openid)
            for message in fold(units):
                if left <= RESERVE and not message.urgent:
                    break  # the last one is kept for an alert
                spent = await self.services.run(budgets.spend, self.name, openid)
                if spent is None:
                    break
                left -= 1
                try:
                    await self.send(openid, message.content)
                except WeChatError as exc:
                    if exc.code not in (TOO_MANY, OUT_OF_WINDOW):  # not sent: the push is not used up
                        await self.services.run(budgets.refund, self.name, openid, spent)
                    if exc.code == TOO_MANY:  # WeChat counted differently: its budget is spent
                        await self.services.run(budgets.exhaust, self.name, openid)
                        break
                    if exc.code == OUT_OF_WINDOW:
                        in_window = False
                        break
                    outcome = outcome_of(exc)
                    return results + [(u.delivery, outcome) for u in pending]
                for unit in message.done:
                    results.append((unit.delivery, Sent(via="message")))
                    pending.remove(unit)
        for unit in sorted(pending, key=lambda u: priority(u.delivery.text.key)):
            results.append((unit.delivery, await self._past_budget(unit, openid, in_window, looked)))
        return results

    async def _past_budget(self, unit: Unit, openid: str, in_window: bool, looked: datetime) -> Outcome:
        """A template when one is mapped for its kind; otherwise it waits for the person's next
        message and goes with the answer (held within the 48 hours, unreachable after)."""
        delivery = unit.delivery
        if in_window:  # within the 48 hours, so the person's budget held it back (/metrics)
            metrics.budget_refused(self.name)
        kind = KIND_OF.get(delivery.text.key)
        template = self.templates.get(kind) if kind else None
        if template is not None:
            now = in_zone(self.services.clock.now(), self.settings.tz)
            offered = values(
                delivery.text.key, delivery.text.params, delivery.locale, "\n".join(unit.texts), now, delivery.count
            )
            try:
                await self.api.send_template(openid, template.template_id, fill(template, offered))
                return Sent(via="template")
            except WeChatError as exc:
                if isinstance(exc, WeChatUnavailable) or exc.code in (*PLATFORM_DOWN, UNFOLLOWED):
                    return outcome_of(exc)
                # The mapping does not fit the template (47003 and the like): told, and nothing lost.
                log.warning(
                    "WeChat template %s for %s refused: %s; the notification waits",
                    template.template_id,
                    kind,
                    exc.code,
                )
        if in_window:
            return Held(HELD)
        return Unreachable(WAIT_FOR_NEXT, since=looked)

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

    async def scan_url(self, scene: str) -> str | None:
        """A permanent parametric QR code's address (an elder's door card stays up for months):
        scanning it sends `scene` back in a SCAN (or subscribe) event. None when WeChat cannot
        make one now (the card then carries the code to type)."""
        try:
            qr = await self.api.create_qr(scene, permanent=True)
        except WeChatError as exc:
            log.warning("door card QR code not made: %s", exc.code)
            return None
        return qr.url


def _folded(waiting: list[Delivery]) -> Reply:
    lines = []
    for d in sorted(waiting, key=lambda d: priority(d.text.key)):  # the most important first
        text = T(d.text.key, **d.text.params)
        lines.append(T("wechat.pending_line", text=text))
    return Reply(T("wechat.pending_notes", count=sum(d.count for d in waiting), lines=lines))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_url(settings: Settings) -> str | None:
    return public_base(settings)  # the rule lives with the settings (certificates use it too)
