"""`/expiry 36` | `/expiry off`: whether and when a community's points expire."""

from __future__ import annotations

import re

from bot.dialogs.core import Context, Reply, reply
from bot.expiry.service import MAX_MONTHS

OFF = ("off", "关闭", "不过期", "0")
_MONTHS = re.compile(r"^[0-9]{1,3}$")


def expiry(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    if not words:
        months = ctx.services.expiry.months(ctx.community_id)
        return [reply("expiry.show_off") if months is None else reply("expiry.show", months=months)]
    word = words[0].lower()
    if len(words) != 1 or (word not in OFF and not _MONTHS.match(word)):
        return [reply("expiry.usage", most=MAX_MONTHS)]
    months = None if word in OFF else int(word)
    ctx.services.expiry.set_months(ctx.actor.person_id, ctx.community_id, months)
    return [reply("expiry.set_off") if months is None else reply("expiry.set", months=months)]
