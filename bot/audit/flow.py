"""`/audit NAME` or `/audit H12` (审计): for the community's workers and the admins, who did what
to a member or an item and when, newest first, ten entries a page with a button to the next.

The next page is `/audit #12 <before> <page>`: the cursor is an entry id (a keyset page), and
like every button value it is only a bound on what the viewer may see anyway; the service
re-checks the viewer's role and the subject's community on every page."""

from __future__ import annotations

import re

from bot.audit.trail import ITEMS, PAGE, SHOWN, TrailLine, TrailPage
from bot.dialogs.common import person_arg
from bot.dialogs.core import Context, Option, Reply, option, reply
from bot.kernel.i18n import T, Text, catalogue

_ITEM = re.compile(r"([A-Za-z])(\d{1,9})")
_CURSOR = re.compile(r"(.*?)\s+(\d{1,12})\s+(\d{1,6})")  # "<subject> <before> <page>", from a button


def audit_trail(ctx: Context, args: str) -> list[Reply]:
    words = args.strip()
    if not words:
        return [reply("audit.usage")]
    before, page = None, 1
    paged = _CURSOR.fullmatch(words)
    if paged is not None:
        words, before, page = paged[1].strip(), int(paged[2]), max(int(paged[3]), 1)
    item = _ITEM.fullmatch(words)
    if item is not None and item[1].upper() in ITEMS:
        prefix, item_id = item[1].upper(), int(item[2])
        found = ctx.services.trail.of_item(ctx.actor.person_id, ctx.actor.community_id, prefix, item_id, before)
        return [_render(found, f"{prefix}{item_id}", T("audit.title_item", ref=f"{prefix}{item_id}"), page)]
    person = person_arg(ctx, words, lambda ref: f"/audit {ref}")
    found = ctx.services.trail.of_person(ctx.actor.person_id, ctx.community_id, person.person_id, before)
    return [_render(found, f"#{person.person_id}", T("audit.title_person", name=person.name), page)]


def _render(found: TrailPage, subject: str, title: Text, page: int) -> Reply:
    if not found.lines and page == 1:
        return reply("audit.none", title=title)
    lines = [_line(n, line) for n, line in enumerate(found.lines, start=(page - 1) * PAGE + 1)]
    options: list[Option] = []
    if found.before is not None:
        options.append(option(f"/audit {subject} {found.before} {page + 1}", "audit.next", page=page + 1))
    if page > 1:
        options.append(option(f"/audit {subject}", "audit.first"))
    return Reply(T("audit.page", title=title, page=page, lines=lines), tuple(options), columns=2)


def _line(n: int, line: TrailLine) -> Text:
    key = f"audit.action.{line.action}"
    what = T(key) if key in catalogue("zh-CN") else T("audit.action.other", action=line.action)
    shown = next((k for k in SHOWN if line.details.get(k)), None)
    return T(
        "audit.line",
        n=n,
        at=line.at,
        actor=line.actor or T("audit.by_bot"),
        what=what,
        ref=f" {line.ref}" if line.ref else "",
        person=T("audit.for", name=line.person) if line.person else "",
        extra=T(f"audit.detail.{shown}", value=str(line.details[shown])[:60]) if shown else "",
    )
