"""Family accounts (亲情账户) in the chat: link relatives, list and remove links, and act for a
relative (`/as 王奶奶`, back with `/as me`). Acting itself lives in the dialog engine: while it
lasts, the commands marked `for_relative` run for the relative."""

from __future__ import annotations

from bot.dialogs.core import Context, Reply, command, option, reply
from bot.dialogs.parse import parse_ref
from bot.errors import NotFound
from bot.flows.common import person_arg
from bot.i18n import T
from bot.services.people import NAME_MAX

ME = ("me", "我", "自己", "本人")


def _real(ctx: Context) -> int:
    """The person talking, whoever the dialog acts for (/family is never run for a relative,
    /as is)."""
    return ctx.actor.acting_by or ctx.actor.person_id


@command("family", role=None, help_key="help.family", aliases=("亲情账户", "亲情"))
async def family(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    action = words[0].lower() if words else ""
    if action in ("add", "添加"):
        code = await ctx.services.family.offer(ctx.actor.person_id)
        return [reply("family.code", code=code)]
    if action in ("accept", "接受"):
        if len(words) != 2:
            return [reply("family.usage")]
        link = await ctx.services.family.accept(ctx.actor.person_id, words[1])
        return [reply("family.accepted", name=link.member_name)]
    if action in ("link", "关联"):
        return await _link(ctx, words[1:])
    if action in ("remove", "删除", "解除"):
        link_id = parse_ref(words[1], "L") if len(words) == 2 else None
        if link_id is None:
            return [reply("family.usage")]
        link = await ctx.services.family.remove(ctx.actor.person_id, link_id)
        return [reply("family.removed", member=link.member_name, relative=link.relative_name)]
    if action:
        return [reply("family.usage")]
    return await _list(ctx)


async def _list(ctx: Context) -> list[Reply]:
    me = ctx.actor.person_id
    links = await ctx.services.family.links(me)
    if not links:
        return [reply("family.none")]
    lines, options = [], []
    for link in links:
        if link.member_id == me:
            lines.append(T("family.line_relative", id=f"L{link.id}", name=link.relative_name))
            if len(f"/as {link.relative_name}".encode()) <= 64:
                options.append(option(f"/as {link.relative_name}", "family.act_option", name=link.relative_name))
        else:
            lines.append(T("family.line_member", id=f"L{link.id}", name=link.member_name))
        options.append(option(f"/family remove L{link.id}", "family.remove_option", id=f"L{link.id}"))
    return [Reply(T("family.list", lines=lines), tuple(options[:10]))]


async def _link(ctx: Context, words: list[str]) -> list[Reply]:
    """/family link MEMBER RELATIVE — a worker links a member to a relative without a phone;
    a relative not yet known is registered as a resident of the worker's community."""
    if not ctx.actor.at_least("worker"):
        return [reply("error.need_worker")]
    if len(words) != 2 or len(words[1]) > NAME_MAX:
        return [reply("family.link_usage")]
    # The member may live anywhere (a grandson in another community): found by handle too.
    member = await person_arg(ctx, words[0], lambda ref: f"/family link {ref} {words[1]}", anyone_by_handle=True)
    try:
        relative_id: int | None = (await person_arg(
            ctx, words[1], lambda ref: f"/family link #{member.person_id} {ref}")).person_id
    except NotFound:
        relative_id = None  # nobody of that name in the community yet: registered now
    link = await ctx.services.family.link(
        ctx.actor.person_id, ctx.community_id, member.person_id, relative_id,
        new_name=None if relative_id else words[1],
    )
    key = "family.linked" if relative_id else "family.linked_new"
    return [reply(key, id=f"L{link.id}", member=link.member_name, relative=link.relative_name)]


@command("as", role=None, help_key="help.as", aliases=("代办",), for_relative=True)
async def act_as(ctx: Context, args: str) -> list[Reply]:
    name = args.strip()
    if name.lower() in ME:
        was = ctx.actor.display_name if ctx.actor.acting_by else None
        await ctx.services.family.act_as_self(_real(ctx))
        ctx.finish()
        return [reply("as.back" if was else "as.already_self")]
    if not name:
        links = [link for link in await ctx.services.family.links(_real(ctx)) if link.member_id == _real(ctx)]
        options = [option(f"/as {link.relative_name}", "family.act_option", name=link.relative_name)
                   for link in links if len(f"/as {link.relative_name}".encode()) <= 64]
        if ctx.actor.acting_by:
            options.append(option("/as me", "as.me_option"))
        return [reply("as.usage", *options[:10])]
    relative_id = await ctx.services.family.linked_relative(_real(ctx), name)
    if relative_id is None:  # not linked: a worker acting for a resident of their community
        relative_id = (await person_arg(ctx, name, lambda ref: f"/as {ref}")).person_id
    relative = await ctx.services.family.act_as(_real(ctx), relative_id)
    ctx.finish()
    return [reply("as.now", name=relative.display_name)]
