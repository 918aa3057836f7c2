"""The dialog engine: identify the caller, route the input, keep the flow state in the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogs.core import ALIASES, COMMANDS, STEPS, Actor, Caller, Context, Input, Reply, reply
from bot.errors import DomainError
from bot.i18n import render
from bot.services import Services
from models import ActingFor, DialogState, Identity, Membership, Person

log = logging.getLogger(__name__)

IDLE = timedelta(minutes=30)
OPTIONS = "_options"  # the values of the options shown last, for numbered answers


@dataclass(frozen=True)
class Turn:
    """What one input produced: the replies, and who to render them for."""

    replies: list[Reply]
    locale: str
    person_id: int


class Dialogs:
    def __init__(self, services: Services) -> None:
        import bot.flows  # noqa: F401  (registers every flow's commands and steps)

        self.services = services

    async def handle(self, caller: Caller, inp: Input) -> Turn:
        ctx, saved = await self._context(caller, inp.request_key)
        try:
            replies = await self._dispatch(ctx, inp, saved)
        except DomainError as exc:
            replies = [reply(exc.key, **exc.params)]
        await self._save(ctx, replies, saved)
        return Turn(replies, ctx.actor.locale, ctx.actor.acting_by or ctx.actor.person_id)

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

    # --- routing ----------------------------------------------------------------------------

    async def _dispatch(self, ctx: Context, inp: Input, saved: dict[str, Any]) -> list[Reply]:
        chosen = inp.option
        text = inp.text.strip()
        shown = saved.get("data", {}).get(OPTIONS) or []
        if chosen is None and text.isdecimal() and 1 <= int(text) <= len(shown):
            chosen = shown[int(text) - 1]
        if chosen is not None:
            if chosen.startswith("/"):
                return await self._command(ctx, chosen)
            if ctx.flow is None:
                return [reply("error.stale_option")]
            return await self._step(ctx, Input(option=chosen, request_key=inp.request_key))
        alias = ALIASES.get(text.split(" ", 1)[0])
        # Inside a flow a word like 余额 may be the answer itself; only 取消 (cancel) breaks out.
        if text.startswith("/") or (alias and (ctx.flow is None or alias == "cancel")):
            return await self._command(ctx, text)
        if ctx.caller.group_chat:
            return []  # chatter in a group is not for us
        if ctx.flow is not None:
            return await self._step(ctx, inp)
        if text and ctx.actor.community_id is None:
            return await self._command(ctx, f"/start {text}")
        return [reply("error.not_understood")]

    async def _command(self, ctx: Context, line: str) -> list[Reply]:
        head, _, args = line.strip().partition(" ")
        name = head.lstrip("/").split("@", 1)[0].lower()
        name = ALIASES.get(head, ALIASES.get(name, name))
        spec = COMMANDS.get(name)
        if spec is None:
            return [reply("error.unknown_command", command=head[:32])]
        if ctx.caller.group_chat and not spec.group_ok:
            return [reply("error.private_only")]
        if ctx.actor.acting_by is not None and not spec.for_relative:
            return [reply("as.not_for_relative", name=ctx.actor.display_name)]
        if spec.admin_only and not ctx.actor.is_admin:
            return [reply("error.need_admin")]
        if spec.role is not None and not ctx.actor.at_least(spec.role):
            key = "error.no_community_yet" if ctx.actor.community_id is None and not ctx.actor.is_admin else f"error.need_{spec.role}"
            return [reply(key)]
        if ctx.flow is not None and name != "cancel":
            ctx.finish()  # a new command leaves the flow the person was in
        return await spec.handler(ctx, args.strip())

    async def _step(self, ctx: Context, inp: Input) -> list[Reply]:
        handler = STEPS.get((ctx.flow or "", ctx.step or ""))
        if handler is None:  # a flow from an older version; start afresh
            ctx.finish()
            return [reply("error.stale_option")]
        return await handler(ctx, inp)

    # --- state ------------------------------------------------------------------------------

    async def _context(self, caller: Caller, request_key: str | None) -> tuple[Context, dict[str, Any]]:
        """Identity, person, role and saved state in one read; a first contact (or a new
        bootstrap admin) goes through the people service, which writes."""
        services = self.services
        async with services.db.read() as uow:
            loaded = await _load(uow.session, caller)
        is_admin = f"{caller.channel}:{caller.external_id}" in services.settings.admins
        if loaded is None or (is_admin and not loaded[0].is_admin) or (
            caller.chat_id and loaded[1].chat_id != caller.chat_id
        ):
            await services.people.identify(
                caller.channel, caller.external_id, display_name=caller.display_name, handle=caller.handle,
                chat_id=caller.chat_id,
            )
            async with services.db.read() as uow:
                loaded = await _load(uow.session, caller)
            assert loaded is not None
        person, identity, role, state, relative_id = loaded
        actor = Actor(
            person.id, identity.id, person.display_name, person.locale, person.community_id, role,
            person.is_admin, caller.channel,
        )
        if relative_id is not None:  # acting for a relative: re-checked on every turn
            async with services.db.read() as uow:
                relative = await services.family.acting_for(uow.session, person.id, relative_id)
            if relative is not None:
                actor = Actor(
                    relative.person_id, identity.id, relative.display_name, person.locale, relative.community_id,
                    relative.role, False, caller.channel, acting_by=person.id,
                )
        saved: dict[str, Any] = {}
        ctx = Context(services, actor, caller, request_key)
        if state is not None and services.clock.now() - state.updated_at < IDLE:
            saved = {"flow": state.flow, "step": state.step, "data": dict(state.data)}
            if state.flow:
                ctx.flow, ctx.step = state.flow, state.step
                ctx.data = {k: v for k, v in state.data.items() if k != OPTIONS}
        elif state is not None:
            saved = {"expired": True}
        return ctx, saved

    async def _save(self, ctx: Context, replies: list[Reply], saved: dict[str, Any]) -> None:
        shown = [o for r in replies for o in r.options]
        data = dict(ctx.data)
        if shown:
            data[OPTIONS] = [o.value for o in shown]
        new = {"flow": ctx.flow or "", "step": ctx.step or "", "data": data} if (ctx.flow or shown) else {}
        if new == {k: v for k, v in saved.items() if k != "expired"} and "expired" not in saved:
            return  # nothing changed: no write on the hot path

        async def work(session: AsyncSession) -> None:
            identity_id = ctx.actor.identity_id
            if not new:
                await session.execute(delete(DialogState).where(DialogState.identity_id == identity_id))
                return
            # One upsert instead of a delete and an insert: a statement less on every step.
            row = {**new, "updated_at": self.services.clock.now()}
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            await session.execute(
                insert(DialogState).values(identity_id=identity_id, **row)
                .on_conflict_do_update(index_elements=[DialogState.identity_id], set_=row)
            )

        await self.services.db.transaction(work)


async def _load(
    session: AsyncSession, caller: Caller
) -> tuple[Person, Identity, str | None, DialogState | None, int | None] | None:
    """Identity, person, role in the current community, saved state and the relative the person
    acts for (if any): one round trip."""
    row = (await session.execute(
        select(Identity, Person, Membership.role, Membership.confirmed, DialogState, ActingFor.relative_id)
        .join(Person, Person.id == Identity.person_id)
        .outerjoin(Membership, and_(Membership.person_id == Person.id, Membership.community_id == Person.community_id))
        .outerjoin(DialogState, DialogState.identity_id == Identity.id)
        .outerjoin(ActingFor, ActingFor.person_id == Person.id)
        .where(Identity.channel == caller.channel, Identity.external_id == caller.external_id)
    )).first()
    if row is None:
        return None
    identity, person, role, confirmed, state, relative_id = row
    if role is not None and not confirmed:
        role = "resident"  # unconfirmed volunteers act as residents until a worker confirms
    return person, identity, role, state, relative_id
