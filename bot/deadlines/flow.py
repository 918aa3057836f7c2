"""Decisions on time: the deadline beside each item in /pending, the community's evening
deadline (/deadline), workers on leave (/away, /back) and the thank-you list (/top workers)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.deadlines.service import due_label
from bot.dialogs.core import Context, Reply, reply
from bot.kernel.i18n import T, Text


def deadline_marker(ctx: Context) -> Callable[[Text, datetime], Text]:
    """For /pending: wraps an item's line with its deadline, marked when it has passed."""
    rule = ctx.services.deadlines.rule(ctx.community_id)
    now = ctx.services.clock.now()

    def mark(line: Text, submitted: datetime) -> Text:
        due, overdue = due_label(rule, submitted, now)
        return T("deadline.item", item=line, due=T("deadline.overdue" if overdue else "deadline.due", due=due))

    return mark


def deadline(ctx: Context, args: str) -> list[Reply]:
    """/deadline shows the rule; /deadline 20:30 moves the evening deadline."""
    if args.strip():
        rule = ctx.services.deadlines.set_evening(ctx.actor.person_id, ctx.community_id, args)
        return [reply("deadline.set", evening=rule.evening.strftime("%H:%M"))]
    rule = ctx.services.deadlines.rule(ctx.community_id)
    return [reply("deadline.show", evening=rule.evening.strftime("%H:%M"), timezone=rule.timezone)]


def away(ctx: Context, args: str) -> list[Reply]:
    changed = ctx.services.deadlines.set_away(ctx.actor.person_id, ctx.community_id, True)
    return [reply("away.done" if changed else "away.already")]


def back(ctx: Context, args: str) -> list[Reply]:
    changed = ctx.services.deadlines.set_away(ctx.actor.person_id, ctx.community_id, False)
    return [reply("back.done" if changed else "back.already")]


def top_workers(ctx: Context) -> list[Reply]:
    """/top workers: who decided most on time this month. Only the top, never anyone's rank."""
    month, rows = ctx.services.deadlines.top_workers(ctx.actor.person_id, ctx.community_id)
    if not rows:
        return [reply("topworkers.empty", month=month)]
    lines = [
        T(
            "topworkers.line",
            rank=r.rank,
            name=r.name if r.name is not None else T("topworkers.anonymous"),
            count=r.on_time,
        )
        for r in rows
    ]
    return [reply("topworkers.list", month=month, lines=lines)]
