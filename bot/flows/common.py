"""Helpers the flows share."""

from __future__ import annotations

from collections.abc import Callable

from bot.dialogs.core import MAX_OPTION_BYTES, Context, Option
from bot.errors import DomainError, InvalidInput, NotFound
from bot.i18n import T
from bot.services.people import Found


class Choose(DomainError):
    """A name that fits several people: the reply offers each of them."""

    def __init__(self, key: str, options: tuple[Option, ...], **params: object) -> None:
        super().__init__(key, **params)
        self.options = options


async def person_arg(
    ctx: Context, name: str, retry: Callable[[str], str] | None = None, *, anyone_by_handle: bool = False,
) -> Found:
    """The person a typed name means, in the asker's community (see PeopleService.find). When
    the name fits several, `retry(ref)` is the command line that picks one (`ref` is `#12`):
    the reply offers one button per person; without it, the refusal lists their refs to type."""
    name = name.strip()
    if not name:
        raise InvalidInput("error.need_person")
    found = await ctx.services.people.people_named(ctx.community_id, name, anyone_by_handle=anyone_by_handle)
    if not found:
        raise NotFound("error.no_such_person", name=name[:32])
    if len(found) == 1:
        return found[0]
    labels = [T("people.choice", name=f.name, role=T(f"role.{f.role}") if f.role else "—", ref=f"#{f.person_id}")
              for f in found]
    lines = [retry(f"#{f.person_id}") if retry else "" for f in found]
    if retry and all(len(line.encode()) <= MAX_OPTION_BYTES for line in lines):
        raise Choose("people.which", tuple(Option(line, label) for line, label in zip(lines, labels)),
                     name=name[:32], count=len(found))
    raise InvalidInput("people.which_typed", name=name[:32], count=len(found), people=labels)
