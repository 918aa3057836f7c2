"""What waits for a worker, and deciding it: /pending, /approve and /reject.

A typed id names its kind by its prefix (H12 an hour log, R4 a redemption, V7 a volunteer
waiting for confirmation). Each feature names its prefix with what approving and rejecting mean
for it and what it has waiting (a `Decider`); bot.dialogs.flows lists them all in one place.
/approve and /reject only route by prefix, /pending only pages what the sources list.
"""

from __future__ import annotations

import re

from bot.dialogs.core import Context, Decider, Option, PendingSource, Reply, Table, option, reply
from bot.kernel.i18n import T

PAGE = 5  # items on one /pending page: with two buttons each, a keyboard that fits a phone
MOST = 1000  # items a source lists; a community with more has a bigger problem than paging
DEFAULT_PREFIX = "H"  # a bare number is an hour log, as it always was
_REF = re.compile(r"([A-Za-z]?)([0-9]{1,9})")


def parse_refs(table: Table, words: list[str]) -> list[tuple[str, int]] | None:
    """['H12', 'r4', '7'] → [('H', 12), ('R', 4), ('H', 7)]; None if any word is not a known id."""
    refs = []
    for word in words:
        match = _REF.fullmatch(word.strip())
        prefix = (match[1].upper() or DEFAULT_PREFIX) if match else ""
        if match is None or prefix not in table.deciders:
            return None
        refs.append((prefix, int(match[2])))
    return refs


def _deciders(ctx: Context) -> list[Decider] | None:
    """What the person may decide: everything for workers and admins, what coordinators decide
    for a grid coordinator, None (refused) for anyone else."""
    if ctx.actor.at_least("worker"):
        return list(ctx.table.deciders.values())
    if ctx.services.grids.coordinates(ctx.actor.person_id, ctx.community_id):
        return [d for d in ctx.table.deciders.values() if d.coordinators]
    return None


def pending_sources(ctx: Context) -> list[PendingSource]:
    """The sources of what waits for the person, in /pending's order: all of them for workers
    and admins, those coordinators decide for a grid coordinator (each lists their grids only),
    none for anyone else. The desk's waiting page lists the same."""
    deciders = _deciders(ctx) or []
    return [d.pending for d in deciders if d.pending is not None]


def pending(ctx: Context, args: str) -> list[Reply]:
    """Everything waiting, one page a message: the true total, each item's buttons, next page,
    and approve all."""
    deciders = _deciders(ctx)
    if deciders is None:
        return [reply("error.need_worker")]
    items = [item for source in pending_sources(ctx) for item in source(ctx)]
    if not items:
        return [reply("pending.none")]
    pages = (len(items) + PAGE - 1) // PAGE
    page = min(max(int(args), 1), pages) if args.strip().isdecimal() and args.strip().isascii() else 1
    shown = items[(page - 1) * PAGE : page * PAGE]
    options: list[Option] = [
        Option(o.value, T("pending.option", label=o.label, ref=o.value.split()[-1]))
        for item in shown
        for o in item.options
    ]
    if page < pages:
        options.append(option(f"/pending {page + 1}", "pending.next", page=page + 1, pages=pages))
    if page > 1:
        options.append(option(f"/pending {page - 1}", "pending.previous", page=page - 1))
    waiting_all = sum([len(d.all_pending(ctx)) for d in deciders if d.all_pending is not None])
    if waiting_all > 1:
        options.append(option("/approve all", "pending.approve_all", count=waiting_all))
    text = T("pending.page", total=len(items), page=page, pages=pages, lines=[item.text for item in shown])
    return [Reply(text, tuple(options), columns=2)]


def approve(ctx: Context, args: str) -> list[Reply]:
    deciders = _deciders(ctx)
    if deciders is None:
        return [reply("error.need_worker")]
    words = args.split()
    if words in (["all"], ["全部"]):
        replies: list[Reply] = []
        for d in deciders:
            if d.all_pending is not None and (ids := d.all_pending(ctx)):
                replies.extend(d.approve(ctx, ids))
        return replies or [reply("pending.none")]
    refs = parse_refs(ctx.table, words)
    if not refs:
        return [reply("approve.usage")]
    if any(ctx.table.deciders[p] not in deciders for p, _ in refs):
        return [reply("error.need_worker")]
    replies = []
    for prefix in dict.fromkeys(p for p, _ in refs):  # each kind once, in the order typed
        replies.extend(ctx.table.deciders[prefix].approve(ctx, [i for p, i in refs if p == prefix]))
    return replies


def reject(ctx: Context, args: str) -> list[Reply]:
    deciders = _deciders(ctx)
    if deciders is None:
        return [reply("error.need_worker")]
    ref, _, reason = args.strip().partition(" ")
    refs = parse_refs(ctx.table, [ref]) if ref else None
    if not refs or ctx.table.deciders[refs[0][0]].reject is None:
        return [reply("reject.usage")]
    if ctx.table.deciders[refs[0][0]] not in deciders:
        return [reply("error.need_worker")]
    prefix, ref_id = refs[0]
    return ctx.table.deciders[prefix].reject(ctx, ref_id, reason.strip())  # type: ignore[misc]
