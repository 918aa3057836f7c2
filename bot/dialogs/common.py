"""Helpers the flows share."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from bot.dialogs.core import MAX_OPTION_BYTES, Context, Input, Option, Reply, StepHandler, option, reply
from bot.dialogs.parse import is_yes, next_word
from bot.kernel.errors import DomainError, InvalidInput, LooksRepeated, NotFound
from bot.kernel.i18n import T
from bot.people.service import Found

Decide = Callable[[Context, int, str], list[Reply]]


def reason_step(
    flow: str, ask_key: str, prefix: str, decide: Decide
) -> tuple[Callable[[Context, int], list[Reply]], StepHandler]:
    """A decision that needs a reason (reject, refuse, dispute): what asks for it, and the step
    (`flow`, "reason") that takes the person's next message as the reason."""

    def ask(ctx: Context, ref_id: int) -> list[Reply]:
        ctx.goto(flow, "reason", ref_id=ref_id)
        return [reply(ask_key, id=f"{prefix}{ref_id}")]

    def take_reason(ctx: Context, inp: Input) -> list[Reply]:
        ref_id = ctx.data["ref_id"]
        if not inp.text.strip():
            return [reply(ask_key, id=f"{prefix}{ref_id}")]
        ctx.finish()
        return decide(ctx, ref_id, inp.text)

    return ask, take_reason


Again = Callable[[Context, dict[str, Any], str], list[Reply]]


def repeat_step(flow: str, again: Again) -> tuple[Callable[..., list[Reply]], StepHandler]:
    """An entry just like one already there (LooksRepeated): what asks, and the step (`flow`,
    "repeat") that records it after a yes. `again(ctx, data, request_key)` records it regardless."""

    def question(ctx: Context) -> Reply:
        return reply(
            "record.looks_repeated",
            option("yes", "record.repeat_yes"),
            option("/cancel", "record.repeat_no"),
            columns=2,
            id=ctx.data["same"],
        )

    def ask(ctx: Context, exc: LooksRepeated, **data: Any) -> list[Reply]:
        ctx.goto(flow, "repeat", same=exc.params["id"], draft=secrets.token_hex(6), **data)
        return [question(ctx)]

    def confirm(ctx: Context, inp: Input) -> list[Reply]:
        if inp.option != "yes" and not is_yes(inp.text):
            return [question(ctx)]
        data = ctx.data
        ctx.finish()
        return again(ctx, data, f"draft:{data['draft']}")

    return ask, confirm


class Choose(DomainError):
    """A name that fits several people: the reply offers each of them."""

    def __init__(self, key: str, options: tuple[Option, ...], **params: object) -> None:
        super().__init__(key, **params)
        self.options = options


def name_and_rest(ctx: Context, args: str) -> tuple[str, str]:
    """The name a command line starts with, and the rest. A real name may have a space in it
    (Anna Lee): the community's longest such name the line starts with wins over the first word."""
    spaced = ctx.services.people.spaced_name_at(ctx.community_id, args)
    if spaced is None:
        return next_word(args)
    parts = args.strip().split(None, len(spaced.split()))
    return spaced, parts[-1] if len(parts) > len(spaced.split()) else ""


def names_in(ctx: Context, text: str) -> list[str]:
    """The names of a list typed with spaces or commas between them; a name with a space in it
    (Anna Lee) is one name, as in `name_and_rest`."""
    names = []
    for part in re.split(r"[,，、;；]+", text):
        rest = part.strip()
        while rest:
            name, rest = name_and_rest(ctx, rest)
            names.append(name)
    return names


def person_arg(
    ctx: Context,
    name: str,
    retry: Callable[[str], str] | None = None,
    *,
    anyone_by_handle: bool = False,
    grids_only: bool = False,
) -> Found:
    """The person a typed name means, in the asker's community (see PeopleService.find). When
    the name fits several, `retry(ref)` is the command line that picks one (`ref` is `#12`):
    the reply offers one button per person; without it, the refusal lists their refs to type.
    `grids_only`: a command a grid coordinator uses on their grids' people (their choice is
    among those only; the services check the grid too)."""
    name = name.strip()
    if not name:
        raise InvalidInput("error.need_person")
    managed_by = ctx.actor.person_id if grids_only else None
    found = ctx.services.people.people_named(
        ctx.community_id, name, anyone_by_handle=anyone_by_handle, managed_by=managed_by
    )
    if not found:
        raise NotFound("error.no_such_person", name=name[:32])
    if len(found) == 1:
        return found[0]
    labels = [
        T("people.choice", name=f.name, role=T(f"role.{f.role}") if f.role else "—", ref=f"#{f.person_id}")
        for f in found
    ]
    lines = [retry(f"#{f.person_id}") if retry else "" for f in found]
    if retry and all(len(line.encode()) <= MAX_OPTION_BYTES for line in lines):
        raise Choose(
            "people.which",
            tuple(Option(line, label) for line, label in zip(lines, labels)),
            name=name[:32],
            count=len(found),
        )
    raise InvalidInput("people.which_typed", name=name[:32], count=len(found), people=labels)
