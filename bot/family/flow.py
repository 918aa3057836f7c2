"""Family accounts (亲情账户) in the chat: link relatives, list and remove links, and act for a
relative (`/as 王奶奶`, back with `/as me`). Acting itself lives in the dialog engine: while it
lasts, the commands marked `for_relative` run for the relative."""

from __future__ import annotations

import re

from bot.dialogs.common import name_and_rest, person_arg, reason_step
from bot.dialogs.core import Context, Decider, Input, Reply, option, reply
from bot.dialogs.parse import is_yes, next_word, parse_ref
from bot.family.service import CODE_LIFETIME
from bot.kernel.errors import DomainError, NotFound
from bot.kernel.i18n import T
from bot.kernel.names import NAME_MAX
from models.family import LinkStatus

ME = ("me", "我", "自己", "本人")


def _real(ctx: Context) -> int:
    """The person talking, whoever the dialog acts for (/family is never run for a relative,
    /as is)."""
    return ctx.actor.acting_by or ctx.actor.person_id


def family(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    action = words[0].lower() if words else ""
    if action in ("add", "添加"):
        code = ctx.services.family.offer(ctx.actor.person_id)
        return [reply("family.code", code=code, hours=int(CODE_LIFETIME.total_seconds() // 3600))]
    if action in ("accept", "接受"):
        if len(words) != 2:
            return [reply("family.usage")]
        link = ctx.services.family.accept(ctx.actor.person_id, words[1])
        return [reply("family.accepted", name=link.member_name)]
    if action in ("link", "关联"):
        return _link(ctx, next_word(args)[1])
    if action in ("remove", "删除", "解除"):
        link_id = parse_ref(words[1], "L") if len(words) == 2 else None
        if link_id is None:
            return [reply("family.usage")]
        link = ctx.services.family.remove(ctx.actor.person_id, link_id)
        return [reply("family.removed", member=link.member_name, relative=link.relative_name)]
    if action:
        return [reply("family.usage")]
    return _list(ctx)


def _list(ctx: Context) -> list[Reply]:
    me = ctx.actor.person_id
    links = ctx.services.family.links(me)
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


def _link(ctx: Context, args: str) -> list[Reply]:
    """/family link MEMBER RELATIVE — a worker links a member to a relative without a chat of
    their own: a member of the community, else an elder of the roster (by name or `E12`), else,
    once the worker says yes, a resident registered now. Either name may have a space in it
    (Anna Lee): the member's is the longest name the line starts with, the relative's the rest."""
    if not ctx.actor.at_least("worker"):
        return [reply("error.need_worker")]
    first, rest = name_and_rest(ctx, args)
    if not rest:  # the whole line is one spaced name: read it as two (Anna, then Lee)
        first, rest = next_word(args)
    name = " ".join(rest.split())
    if not name or len(name) > NAME_MAX:
        return [reply("family.link_usage")]
    # The member may live anywhere (a grandson in another community): found by handle too.
    member = person_arg(ctx, first, lambda ref: f"/family link {ref} {name}", anyone_by_handle=True)
    elder = re.fullmatch(r"[Ee]\d{1,9}", name) is not None
    if not elder:
        try:
            relative = person_arg(ctx, name, lambda ref: f"/family link #{member.person_id} {ref}")
        except NotFound:
            relative = None  # not a member: an elder of the roster, or someone new
        if relative is not None:
            return _linked(ctx, member.person_id, relative.person_id)
    elders = ctx.services.family.elders_named(ctx.community_id, name)
    if len(elders) == 1:
        return _linked(ctx, member.person_id, None, elder_id=elders[0][0])
    if elders:
        return [
            reply(
                "family.which_elder",
                *(
                    option(
                        f"/family link #{member.person_id} E{eid}",
                        "family.elder_option",
                        id=f"E{eid}",
                        name=ename,
                        year=year,
                    )
                    for eid, ename, year in elders
                ),
                name=name,
            )
        ]
    if elder:
        return [reply("visits.error.no_elder", ref=name.upper())]
    ctx.goto("family_link", "register", member=member.person_id, member_name=member.name, name=name)
    return [_ask_register(ctx)]


def _ask_register(ctx: Context) -> Reply:
    return reply(
        "family.ask_register",
        option("yes", "family.register_yes"),
        option("/cancel", "redeem.confirm_no"),
        columns=2,
        name=ctx.data["name"],
        member=ctx.data["member_name"],
    )


def link_register(ctx: Context, inp: Input) -> list[Reply]:
    if not (inp.option == "yes" if inp.option else is_yes(inp.text)):
        return [_ask_register(ctx)]
    member, name = ctx.data["member"], ctx.data["name"]
    ctx.finish()
    return _linked(ctx, member, None, new_name=name)


def _linked(
    ctx: Context, member_id: int, relative_id: int | None, *, new_name: str | None = None, elder_id: int | None = None
) -> list[Reply]:
    link = ctx.services.family.link(
        ctx.actor.person_id, ctx.community_id, member_id, relative_id, new_name=new_name, elder_id=elder_id
    )
    if link.status == LinkStatus.APPROVAL:  # a worker's own link: another worker approves
        key = "family.link_waiting"
    else:
        key = "family.linked_new" if new_name else "family.linked"
    return [reply(key, id=f"L{link.id}", member=link.member_name, relative=link.relative_name)]


# --- a worker's own family link: another worker decides ---------------------------------------


def pending_links(ctx: Context) -> list[Reply]:
    return [
        Reply(
            T("family.pending_line", id=f"L{v.id}", member=v.member_name, relative=v.relative_name),
            (option(f"/approve L{v.id}", "pending.approve"), option(f"/reject L{v.id}", "pending.reject")),
            columns=2,
        )
        for v in ctx.services.family.waiting_links(ctx.actor.person_id, ctx.community_id)
    ]


def _approve_links(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:  # each on its own: one refusal does not hold up the rest
        try:
            link = ctx.services.family.decide_link(ctx.actor.person_id, i, True)
            out.append(reply("family.link_approved", id=f"L{i}", member=link.member_name, relative=link.relative_name))
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
    return out


def _refuse_link(ctx: Context, link_id: int, reason: str) -> list[Reply]:
    link = ctx.services.family.decide_link(ctx.actor.person_id, link_id, False, reason)
    return [reply("family.link_refused", id=f"L{link_id}", member=link.member_name)]


_ask_link_reason, family_link_reason = reason_step("family_link", "family.ask_reason", "L", _refuse_link)


def _reject_link(ctx: Context, link_id: int, reason: str) -> list[Reply]:
    return _refuse_link(ctx, link_id, reason) if reason else _ask_link_reason(ctx, link_id)


DECIDER = Decider("L", _approve_links, _reject_link, pending=pending_links)  # /approve L5


def act_as(ctx: Context, args: str) -> list[Reply]:
    name = args.strip()
    if name.lower() in ME:
        was = ctx.actor.display_name if ctx.actor.acting_by else None
        ctx.services.family.act_as_self(_real(ctx))
        ctx.finish()
        return [reply("as.back" if was else "as.already_self")]
    if not name:
        links = [link for link in ctx.services.family.links(_real(ctx)) if link.member_id == _real(ctx)]
        options = [
            option(f"/as {link.relative_name}", "family.act_option", name=link.relative_name)
            for link in links
            if len(f"/as {link.relative_name}".encode()) <= 64
        ]
        if ctx.actor.acting_by:
            options.append(option("/as me", "as.me_option"))
        return [reply("as.usage", *options[:10])]
    relative_id = ctx.services.family.linked_relative(_real(ctx), name)
    if relative_id is None:  # not linked: a worker acting for a resident of their community
        relative_id = (person_arg(ctx, name, lambda ref: f"/as {ref}")).person_id
    relative = ctx.services.family.act_as(_real(ctx), relative_id)
    ctx.finish()
    return [reply("as.now", name=relative.display_name)]
