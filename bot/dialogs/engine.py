"""The dialog engine: identify the caller, route the input, keep the flow state in the database."""

from __future__ import annotations

import asyncio
import difflib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.dialogs.core import (
    Actor,
    Caller,
    Command,
    Context,
    Deferred,
    Document,
    Input,
    Invites,
    Later,
    Reply,
    Table,
    reply,
)
from bot.dialogs.flows import TABLE
from bot.dialogs.parse import intent_of, is_skip, is_yes, split_command
from bot.kernel import crash
from bot.kernel.access import effective_role
from bot.kernel.db import ReadOnlyTurn
from bot.kernel.errors import DomainError
from bot.kernel.i18n import Text, render
from bot.kernel.text import fold_width
from bot.services import Services

log = logging.getLogger(__name__)

IDLE = timedelta(minutes=30)
# What the engine keeps beside a flow's own data (keys starting with "_" are the engine's):
OPTIONS = "_options"  # the list shown last: option values, their labels, and where it was shown
RECEIPT = "_receipt"  # what the last finished flow did, for a button of it pressed again


@dataclass(frozen=True)
class Listing:
    """The options shown last. A list shown at a step answers that step, and stays answerable
    while the person is still at that step (after a wrong answer too). A list of commands shown
    outside any flow stays answerable until another list replaces it, even across a flow started
    from it (`/pending` → reject → reason → the next number still works); inside that flow the
    numbers are the flow's."""

    values: list[str]
    labels: list[str]
    at: str  # "flow/step", or "" outside any flow

    @staticmethod
    def load(saved: Any, at: str) -> Listing | None:
        if isinstance(saved, list):  # as saved by an older version: values only
            return Listing(saved, [], at)
        if isinstance(saved, dict):
            return Listing(list(saved.get("values", [])), list(saved.get("labels", [])), saved.get("at", ""))
        return None

    def dump(self) -> dict[str, Any]:
        return {"values": self.values, "labels": self.labels, "at": self.at}

    def chosen(self, text: str) -> str | None:
        """The option a typed answer picks: its number, or its label when no other has it."""
        if text.isdecimal() and text.isascii():
            return self.values[int(text) - 1] if 1 <= int(text) <= len(self.values) else None
        typed = _plain(text)
        if not typed or text.startswith("/"):
            return None
        matches = [v for v, label in zip(self.values, self.labels, strict=False) if label == typed]
        return matches[0] if len(set(matches)) == 1 else None


def _plain(label: str) -> str:
    """A label as people type it: without emoji, marks and spaces around it, lower case, and
    width-folded as typed text is."""
    return re.sub(r"^[^\w]+|[^\w]+$", "", fold_width(label) or "").lower()


def _closest(ctx: Context, text: str) -> Reply:
    """What is not understood is answered with the command word it is closest to, if any."""
    aliases = ctx.table.aliases
    guess = difflib.get_close_matches(text[:32], [w for w in aliases if not w.isascii()], n=1, cutoff=0.5)
    if guess:
        return reply("error.not_understood_guess", word=guess[0], command=f"/{aliases[guess[0]]}")
    return reply("error.not_understood")


def _answers(ctx: Context, word: str) -> bool:
    """Whether the step waiting reads this word itself (a yes or skip word, or one it declared)."""
    declared = ctx.table.answers.get((ctx.flow or "", ctx.step or ""), frozenset())
    return is_yes(word) or is_skip(word) or word.lower() in declared


def _position(ctx: Context) -> str:
    return f"{ctx.flow}/{ctx.step}" if ctx.flow else ""


# Runs on the database thread, in the turn's transaction (the inbox marks its entry handled there).
Settle = Callable[[Session, "Turn"], None]


@dataclass(frozen=True)
class Turn:
    """What one input produced: the replies, and who to render them for."""

    replies: list[Reply]
    locale: str
    person_id: int
    # A button press the engine did not take (an old or someone else's button): a channel with
    # toasts shows the reply as one and leaves the pressed message as it is.
    press_refused: bool = False
    left: str = ""  # the flow/step the person was at before this input ("" for none)
    # Files made after the commit: until then their placeholders stand in the replies. A channel
    # adds its own slow pictures here too (`deferred.add`) rather than drawing in the transaction.
    deferred: Deferred = field(default_factory=Deferred)
    state: tuple[int, dict[str, Any]] | None = None  # a read-only turn's state, saved after it


# Given the files once drawn (placeholder → bytes, None: nothing to attach): the channel puts
# them where it stored the placeholders (`bot.kernel.later.fill`).
Attach = Callable[[dict[bytes, bytes | None]], Awaitable[None]]


class Dialogs:
    def __init__(self, services: Services, table: Table = TABLE) -> None:
        self.services = services
        self.table = table
        self.invites = Invites()  # the channel adapter fills it in

    async def handle(
        self,
        caller: Caller,
        inp: Input,
        settle: Settle | None = None,
        attach: Attach | None = None,
        settle_later: Callable[[Turn, Callable[[], None] | None], None] | None = None,
    ) -> Turn:
        """One turn, handed to a database thread once and run there whole (`turn`); then, outside
        any transaction, the files it attaches are made and given to `attach`. A command declared
        read-only (`Command(reads=True)`) runs on a reader thread, and only its state and the
        inbox mark are written after, in one short transaction; should it write after all (a
        first contact, a step that writes), it runs again as a whole turn. `settle_later`: for a
        read-only turn without files, called instead of `settle`, on the event loop, with what
        saves its dialog state (None when unchanged), so the turn needs no write of its own (the
        channel stores its reply, and saves the state, with the mark that the reply went out)."""
        db = self.services.db
        turn: Turn | None = None
        if self._reads(inp):
            try:
                turn = await db.run_read(
                    db.unit, lambda session: self.turn(session, caller, inp, None, read=True), writes=False
                )
            except ReadOnlyTurn:
                turn = None
        if turn is not None:
            kept = turn
            if settle_later is not None and not turn.deferred.items:
                state = turn.state
                save = None if state is None else lambda: self.services.dialog_state.save(*state)
                settle_later(turn, save)
            elif turn.state is not None or settle is not None:
                await db.run(db.unit, lambda session: self._finish_read(session, kept, settle))
        else:
            turn = await db.run(db.unit, lambda session: self.turn(session, caller, inp, settle))
        if not turn.deferred.items:
            return turn
        drawn = {token: await _draw(later) for token, later in turn.deferred.items}
        if attach is not None:
            await attach(drawn)
        return replace(turn, replies=[r for r in (_made(r, drawn) for r in turn.replies) if r is not None])

    def _reads(self, inp: Input) -> bool:
        """Whether the input names a command declared read-only (a guess: the turn proves it)."""
        line = (inp.option or inp.text).strip()
        head, _ = split_command(line)
        aliases = self.table.aliases
        name = aliases.get(head) or head.lstrip("/／").split("@", 1)[0].lower()
        spec = self.table.commands.get(aliases.get(name, name))
        return spec is not None and spec.reads and (line.startswith(("/", "／")) or head in aliases)

    def _finish_read(self, session: Session, turn: Turn, settle: Settle | None) -> None:
        """A read-only turn's writes: its dialog state when it changed, and the channel's mark."""
        if turn.state is not None:
            self.services.dialog_state.save(*turn.state)
        if settle is not None:
            settle(session, turn)

    def turn(
        self, session: Session, caller: Caller, inp: Input, settle: Settle | None = None, *, read: bool = False
    ) -> Turn:
        """Who is writing and their state, the command or step, the services' writes, the saved
        state and `settle(session, turn)` (the channel stores its reply and marks its inbox
        entry there): one unit of work (`Database.unit`), committed whole or not at all."""
        ctx, saved = self._context(caller, inp.request_key)
        where = f"{saved['flow']}/{saved['step']}" if saved.get("flow") else ""
        listing = Listing.load(saved.get("data", {}).get(OPTIONS), where)
        refused = False
        try:
            replies = self._dispatch(ctx, inp, saved, listing)
        except _RefusedPress as exc:
            replies, refused = [reply(exc.key)], True
        except DomainError as exc:  # a refusal, or a question (several people of that name)
            replies = [reply(exc.key, *getattr(exc, "options", ()), **exc.params)]
        crash.point("turn.dispatched")  # the services wrote; nothing is committed yet
        deferred = Deferred()
        replies = [_placeholder(r, deferred) for r in replies]
        turn = Turn(replies, ctx.actor.locale, ctx.actor.acting_by or ctx.actor.person_id, refused, where, deferred)
        state = self._state(ctx, replies, saved, listing)
        if read:  # saved after, by `_finish_read`
            return replace(turn, state=state)
        if state is not None:
            self.services.dialog_state.save(*state)
        if settle is not None:
            settle(session, turn)
        crash.point("turn.settled")  # the reply is stored and the entry marked, still uncommitted
        return turn

    def render(self, locale: str, replies: list[Reply]) -> list[str]:
        """Plain text of replies, options as one numbered list across the turn (console and
        WeChat), matching the numbers `handle` accepts next."""
        out, number = [], 0
        for r in replies:
            lines = [render(locale, r.text.key, r.text.params)]
            for o in r.options:
                number += 1
                lines.append(f"{number}. {render(locale, o.label.key, o.label.params)}")
            out.append("\n".join(lines))
        return out

    def page_command(self, ctx: Context, line: str) -> list[Reply]:
        """A command run for a web page (the desk) as a typed one would run: the same role checks
        and handler, a refusal as its reply. Nothing of the chat's dialog state is read or saved."""
        try:
            return self._command(ctx, line)
        except DomainError as exc:
            return [reply(exc.key, *getattr(exc, "options", ()), **exc.params)]

    # --- routing ----------------------------------------------------------------------------

    def _dispatch(self, ctx: Context, inp: Input, saved: dict[str, Any], listing: Listing | None) -> list[Reply]:
        chosen = inp.option
        text = inp.text.strip()
        here = _position(ctx)
        current = listing if listing is not None and listing.at == here else None
        if chosen is not None:
            # A button must be on the list in force: a double tap, a button of an earlier step or
            # of someone else's message in a group is not an answer to this step.
            on_list = current is not None and chosen in current.values
            if ctx.caller.group_chat and not on_list:
                raise _RefusedPress("error.not_your_buttons")
            if not chosen.startswith("/") and ctx.flow is not None and not on_list:
                raise _RefusedPress("error.old_button")
        elif current is not None and not inp.photo and not inp.contact_phone and not inp.location:
            chosen = current.chosen(text)
        if ctx.consent_for is not None and not ctx.caller.group_chat:
            return self._consent_first(ctx, inp, chosen)
        if chosen is not None:
            if chosen.startswith("/"):
                return self._command(ctx, chosen)
            if ctx.flow is None:
                done = saved.get("data", {}).get(RECEIPT)
                if inp.option is not None and done:  # e.g. ✅ pressed again after the submit
                    return [Reply(Text(done["key"], done.get("params", {})))]
                return [reply("error.stale_option")]
            return self._step(ctx, Input(option=chosen, request_key=inp.request_key))
        head, args = split_command(text)
        alias = self.table.aliases.get(head)
        # Inside a step a command word typed alone (余额, 帮助, 取消) is that command, unless the
        # step reads the word as its answer; a longer line starting with one is the answer (a
        # note may begin with 记录).
        if text.startswith(("/", "／")) or (alias and (ctx.flow is None or (not args and not _answers(ctx, head)))):
            return self._command(ctx, text, typed=True)
        if ctx.caller.group_chat:
            return []  # chatter in a group is not for us
        if ctx.flow is not None:
            return self._step(ctx, inp)
        if text and ctx.actor.community_id is None:
            return self._command(ctx, f"/start {text}")
        # A sentence (帮我看看积分, 我今天探访了王奶奶两个小时) gets the command it asks for; a
        # sentence about hours goes to /log whole, which confirms what it read before saving.
        intent = intent_of(text)
        if intent is not None:
            return self._command(ctx, f"/{intent} {text}" if intent == "log" else f"/{intent}")
        return [_closest(ctx, text)]

    def _consent_first(self, ctx: Context, inp: Input, chosen: str | None) -> list[Reply]:
        """A volunteer who has not agreed to the privacy notice in force is asked before anything
        else; agreeing records it and carries on with the message they had sent."""
        from bot.privacy import consent_flow as consent

        assert ctx.consent_for is not None
        if ctx.flow == consent.FLOW and chosen in (consent.AGREE, consent.DECLINE):
            then = ctx.data.get("then") or {}
            ctx.finish()
            if chosen == consent.DECLINE:
                return [reply("notice.declined")]
            ctx.services.people.consent(ctx.actor.acting_by or ctx.actor.person_id, ctx.consent_for)
            ctx.consent_for = None
            replies = [reply("notice.agreed")]
            if then.get("text") or then.get("option"):
                carried = Input(text=then.get("text") or "", option=then.get("option"), request_key=inp.request_key)
                replies += self._dispatch(ctx, carried, {}, None)
            return replies
        then = ctx.data.get("then") if ctx.flow == consent.FLOW else {"text": inp.text, "option": inp.option}
        ctx.goto(consent.FLOW, "notice", then=then)
        return [consent.notice(ctx, ctx.consent_for, "notice.changed")]

    def _command(self, ctx: Context, line: str, *, typed: bool = False) -> list[Reply]:
        head, args = split_command(line)
        name = head.lstrip("/").split("@", 1)[0].lower()
        aliases = self.table.aliases
        name = aliases.get(head, aliases.get(name, name))
        spec = self.table.commands.get(name)
        if spec is None:
            guess = difflib.get_close_matches(name, list(self.table.commands), n=1, cutoff=0.6)
            if guess:
                return [reply("error.unknown_command_guess", command=head[:32], guess=f"/{guess[0]}")]
            return [reply("error.unknown_command", command=head[:32])]
        if ctx.caller.group_chat and not spec.group_ok:
            return [reply("error.private_only")]
        if ctx.actor.acting_by is not None and not spec.for_relative:
            return [reply("as.not_for_relative", name=ctx.actor.display_name)]
        if spec.admin_only and not ctx.actor.is_admin:
            return [reply("error.need_admin")]
        if spec.role is not None and not ctx.actor.at_least(spec.role) and not _coordinator_may(ctx, spec):
            if ctx.actor.community_id is None and not ctx.actor.is_admin:
                return [reply("error.no_community_yet")]
            if ctx.actor.awaiting_confirmation and spec.role == "volunteer":
                return [reply("error.awaiting_confirmation")]
            return [reply(f"error.need_{spec.role}")]
        if ctx.flow is None or name == "cancel":
            return spec.handler(ctx, args.strip())
        ctx.finish()  # a new command leaves the flow the person was in, as /cancel would
        replies = spec.handler(ctx, args.strip())
        # Typed in the middle of a step, say so: the next answer is not taken as the step's.
        return [reply("dialog.step_left"), *replies] if typed else replies

    def _step(self, ctx: Context, inp: Input) -> list[Reply]:
        handler = self.table.steps.get((ctx.flow or "", ctx.step or ""))
        if handler is None:  # a flow from an older version; start afresh
            ctx.finish()
            return [reply("error.stale_option")]
        return handler(ctx, inp)

    # --- state ------------------------------------------------------------------------------

    def _context(self, caller: Caller, request_key: str | None) -> tuple[Context, dict[str, Any]]:
        """Identity, person, role and saved state in one read; a first contact (or a new
        bootstrap admin) goes through the people service, which writes."""
        services = self.services
        loaded = services.dialog_state.load(caller.channel, caller.external_id)
        is_admin = f"{caller.channel}:{caller.external_id}" in services.settings.admins
        if (
            loaded is None
            or (is_admin and not loaded.person.is_admin)
            or (caller.chat_id and loaded.identity.chat_id != caller.chat_id)
        ):
            services.people.identify(
                caller.channel,
                caller.external_id,
                display_name=caller.display_name,
                handle=caller.handle,
                chat_id=caller.chat_id,
            )
            loaded = services.dialog_state.load(caller.channel, caller.external_id)
            assert loaded is not None
        person, identity, role, state = loaded.person, loaded.identity, loaded.role, loaded.state
        actor = Actor(
            person.id,
            identity.id,
            person.display_name,
            person.locale,
            person.community_id,
            effective_role(role, loaded.confirmed),
            person.is_admin,
            caller.channel,
            awaiting_confirmation=role == "volunteer" and not loaded.confirmed,
        )
        relative = loaded.relative
        if relative is not None:  # acting for a relative: re-checked on every turn
            actor = Actor(
                relative.person_id,
                identity.id,
                relative.display_name,
                person.locale,
                relative.community_id,
                relative.role,
                False,
                caller.channel,
                acting_by=person.id,
            )
        saved: dict[str, Any] = {}
        ctx = Context(services, actor, caller, request_key, self.table, invites=self.invites)
        if (
            loaded.role == "volunteer"
            and person.community_id is not None
            and (loaded.consented != services.settings.privacy_notice_version)
        ):
            ctx.consent_for = person.community_id
        if state is not None and services.clock.now() - state.updated_at < IDLE:
            saved = {"flow": state.flow, "step": state.step, "data": dict(state.data)}
            if state.flow:
                ctx.flow, ctx.step = state.flow, state.step
                ctx.data = {k: v for k, v in state.data.items() if not k.startswith("_")}
        elif state is not None:
            saved = {"expired": True}
        return ctx, saved

    def _state(
        self, ctx: Context, replies: list[Reply], saved: dict[str, Any], listing: Listing | None
    ) -> tuple[int, dict[str, Any]] | None:
        """The dialog state to save after this turn, or None when it did not change."""
        shown = [o for r in replies for o in r.options]
        here = _position(ctx)
        if shown:
            locale = ctx.actor.locale
            listing = Listing(
                [o.value for o in shown], [_plain(render(locale, o.label.key, o.label.params)) for o in shown], here
            )
        elif listing is not None and listing.at not in (here, ""):
            listing = None  # the step it answered is over
        data = dict(ctx.data)
        if listing is not None:
            data[OPTIONS] = listing.dump()
        receipt = ctx.receipt
        if receipt is None and ctx.flow is None:
            receipt_saved = saved.get("data", {}).get(RECEIPT)
        else:
            receipt_saved = None if receipt is None else {"key": receipt.key, "params": receipt.params}
        if receipt_saved:
            data[RECEIPT] = receipt_saved
        new = {"flow": ctx.flow or "", "step": ctx.step or "", "data": data} if (ctx.flow or data) else {}
        unchanged = new == {k: v for k, v in saved.items() if k != "expired"} and "expired" not in saved
        return None if unchanged else (ctx.actor.identity_id, new)  # unchanged: no write on the hot path


def _placeholder(r: Reply, deferred: Deferred) -> Reply:
    """A reply whose file is made later carries a placeholder for it until then."""
    if r.later is None:
        return r
    token = deferred.add(r.later)
    if r.filename is not None:
        return replace(r, later=None, document=Document(r.filename, token))
    return replace(r, later=None, image=token)


async def _draw(later: Later) -> bytes | None:
    """Made off the event loop (a drawing), or awaited (a platform's picture)."""
    draw = later.draw
    if inspect.iscoroutinefunction(getattr(draw, "func", draw)):
        made = draw()
    else:
        made = await asyncio.to_thread(draw)
    return await made if inspect.isawaitable(made) else made


def _made(r: Reply, drawn: dict[bytes, bytes | None]) -> Reply | None:
    """A reply with its placeholder replaced by the file; None when the file came out empty."""
    if r.document is not None and r.document.content in drawn:
        content = drawn[r.document.content]
        return None if content is None else replace(r, document=Document(r.document.filename, content))
    if r.image is not None and r.image in drawn:
        image = drawn[r.image]
        return None if image is None else replace(r, image=image)
    return r


class _RefusedPress(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _coordinator_may(ctx: Context, spec: Command) -> bool:
    """A grid coordinator passes the door of a worker's command marked for them; what they may
    do inside is the services' to decide, grid by grid (bot.kernel.access)."""
    actor = ctx.actor
    return (
        spec.coordinators
        and actor.community_id is not None
        and actor.at_least("volunteer")
        and ctx.services.grids.coordinates(actor.person_id, actor.community_id)
    )
