"""/link: one person across channels. Without a code it gives one; with a code (typed in the
other channel) it joins this channel's identity to the person who asked for it."""

from __future__ import annotations

from dataclasses import replace

from bot.dialogs.core import Context, Reply, reply


def link(ctx: Context, args: str) -> list[Reply]:
    code = args.split()[0] if args.split() else ""
    if not code:
        made = ctx.services.links.new_code(ctx.actor.person_id, ctx.caller.channel)
        return [reply("link.code", code=made.code, minutes=made.minutes)]
    linked = ctx.services.links.link(ctx.actor.identity_id, code)
    # From now on this identity speaks for the surviving person.
    ctx.actor = replace(ctx.actor, person_id=linked.person_id, display_name=linked.display_name)
    return [
        reply(
            "link.done",
            name=linked.display_name,
            channels="、".join(linked.channels) if ctx.actor.locale == "zh-CN" else ", ".join(linked.channels),
        )
    ]
