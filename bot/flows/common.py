"""Helpers the flows share."""

from __future__ import annotations

from bot.dialogs.core import Context
from bot.errors import InvalidInput, NotFound
from models import Person


async def person_arg(ctx: Context, args: str) -> Person:
    """The person named by the first word: a handle (console name, @username) or display name."""
    handle = args.split()[0] if args.split() else ""
    if not handle:
        raise InvalidInput("error.need_person")
    person = await ctx.services.people.person_named(handle)
    if person is None:
        raise NotFound("error.no_such_person", name=handle[:32])
    return person
