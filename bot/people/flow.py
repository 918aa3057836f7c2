"""Joining, volunteer registration, help, language, cancel, and admin set-up commands."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from bot.decisions.flow import MOST, parse_refs
from bot.dialogs.common import name_and_rest, person_arg
from bot.dialogs.core import Context, Decider, Input, Later, Reply, option, reply
from bot.kernel.channels import SHARES_CONTACT
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import T
from bot.kernel.names import clean_name
from bot.paper.flow import event_scan, is_sheet_code
from bot.people.grids import COORDINATOR_WORDS
from bot.people.service import Found, looks_like_code
from bot.privacy.consent_flow import notice
from bot.visits.cards import looks_like_token
from bot.visits.flow import check_in


def start(ctx: Context, args: str) -> list[Reply]:
    if args and is_sheet_code(args.split()[0]):  # a sign-in sheet's QR code, scanned or opened as a link
        return event_scan(ctx, args.split()[0])
    if args:
        return _join(ctx, args.split()[0])
    if ctx.actor.community_id is None and not ctx.actor.is_admin:
        return [reply("start.welcome_new")]
    return [reply("start.hello", name=ctx.actor.display_name), *help_(ctx, "")]


def _join(ctx: Context, code: str) -> list[Reply]:
    if looks_like_token(code):  # an elder's door card, scanned (WeChat's scene, a deep link)
        return check_in(ctx, code)
    if not looks_like_code(code):  # 你好, hello: a stranger saying hello, not a wrong code
        return [reply("start.welcome_new")]
    member = ctx.services.people.join(ctx.actor.person_id, code)
    community = ctx.services.people.community_name(member.community_id)
    replies = [reply("start.joined", community=community)]
    if member.role == "resident" and member.invited_as == "volunteer":
        ctx.goto("register", "name", community_id=member.community_id)
        replies += [notice(ctx, member.community_id), reply("register.ask_name")]
    return replies


def volunteer(ctx: Context, args: str) -> list[Reply]:
    if ctx.actor.role in ("volunteer", "worker"):
        return [reply("register.already")]
    ctx.goto("register", "name", community_id=ctx.community_id)
    return [notice(ctx, ctx.community_id), reply("register.ask_name")]


def register_name(ctx: Context, inp: Input) -> list[Reply]:
    try:
        name = clean_name(inp.text)
    except InvalidInput:
        return [reply("register.ask_name_again")]
    ctx.goto("register", "phone", real_name=name)
    return [_ask_phone(ctx, "register.ask_phone")]


# Where Telegram's share-contact keyboard shows: whatever answers it (a shared contact, a typed
# number, another command) takes the keyboard away.
CONTACT_STEPS = frozenset({"register/phone"})


def _ask_phone(ctx: Context, key: str) -> Reply:
    """A channel that can share the person's contact offers its button; elsewhere the number is typed."""
    if ctx.caller.channel in SHARES_CONTACT:
        return Reply(T(key), request_contact=True)
    return Reply(T(f"{key}_typed"))


def register_phone(ctx: Context, inp: Input) -> list[Reply]:
    if inp.contact_phone and not inp.contact_is_own:
        return [Reply(T("register.not_own_contact"), request_contact=True)]
    phone = inp.contact_phone or inp.text
    try:
        member = ctx.services.people.register_volunteer(
            ctx.actor.person_id, ctx.data["community_id"], ctx.data["real_name"], phone
        )
    except InvalidInput:
        return [_ask_phone(ctx, "register.ask_phone_again")]
    ctx.finish()
    return [reply("register.done" if member.confirmed else "register.awaiting_confirmation")]


# /help shows what fits the person now; /help all the rest. Commands of features that are not
# installed are left out.
BRIEF = {
    "newcomer": ("start", "lang", "help"),
    "resident": ("volunteer", "balance", "history", "shop", "top", "lang"),
    "volunteer": ("log", "mylogs", "balance", "history", "shop", "orders", "visits", "top"),
    "worker": ("pending", "approve", "reject", "record", "event", "invite", "confirm", "pickup", "visits", "report"),
    "admin": ("newcommunity", "appoint", "unappoint", "community"),
    "coordinator": ("grids", "elders", "visits", "assign", "ack", "record", "pending", "approve"),
}


def help_(ctx: Context, args: str) -> list[Reply]:
    actor = ctx.actor
    joined = actor.community_id is not None
    coordinator = (
        joined and actor.role == "volunteer" and ctx.services.grids.coordinates(actor.person_id, ctx.community_id)
    )
    if args.strip().lower() in ("all", "全部"):
        names = [name for name in ctx.table.commands if not (name == "start" and joined)]
    else:
        state = "newcomer" if not joined else "resident" if actor.role in (None, "resident") else actor.role
        names = [*BRIEF[state], *(BRIEF["admin"] if actor.is_admin else ())]
        if coordinator:
            names += BRIEF["coordinator"]
    lines = [
        T(spec.help_key)
        for spec in (ctx.table.commands[n] for n in dict.fromkeys(names) if n in ctx.table.commands)
        if spec.help_key
        and (not spec.admin_only or actor.is_admin)
        and (spec.role is None or actor.at_least(spec.role) or (spec.coordinators and coordinator))
    ]
    notes = [T("help.awaiting")] if actor.awaiting_confirmation else []
    more = [] if args.strip() else [T("help.more")]
    return [reply("help.title", commands=[*notes, *lines, *more])]


def lang(ctx: Context, args: str) -> list[Reply]:
    choice = {"zh": "zh-CN", "zh-cn": "zh-CN", "中文": "zh-CN", "en": "en", "english": "en"}.get(args.lower())
    if choice is None:
        ctx.goto("lang", "choose")
        return [reply("lang.choose", option("zh-CN", "lang.zh"), option("en", "lang.en"), columns=2)]
    return _set_lang(ctx, choice)


def lang_choose(ctx: Context, inp: Input) -> list[Reply]:
    choice = inp.option or inp.text.strip()
    if choice not in ("zh-CN", "en"):
        return [reply("lang.choose", option("zh-CN", "lang.zh"), option("en", "lang.en"), columns=2)]
    ctx.finish()
    return _set_lang(ctx, choice)


def _set_lang(ctx: Context, locale: str) -> list[Reply]:
    ctx.services.people.set_locale(ctx.actor.person_id, locale)
    ctx.actor = replace(ctx.actor, locale=locale)  # answer in the new language at once
    return [reply("lang.set")]


def community(ctx: Context, args: str) -> list[Reply]:
    """Switch the community one acts in (members of several, and admins)."""
    if args:
        found = ctx.services.people.switch_community(ctx.actor.person_id, args)
        ctx.finish()
        return [reply("switch.done", community=found.name)]
    names = ctx.services.people.communities(ctx.actor.person_id)
    if not names:
        return [reply("error.no_community_yet")]
    return [
        reply(
            "switch.choose",
            *(
                option(f"/community {n}", "switch.option", name=n)
                for n in names
                if len(f"/community {n}".encode()) <= 64
            ),
        )
    ]


def cancel(ctx: Context, args: str) -> list[Reply]:
    had_flow = ctx.flow is not None
    ctx.finish()
    return [reply("cancel.done" if had_flow else "cancel.nothing")]


def invite(ctx: Context, args: str) -> list[Reply]:
    role = "resident" if args.strip().lower() in ("resident", "居民") else "volunteer"
    code = ctx.services.people.create_invite(ctx.actor.person_id, ctx.community_id, role=role)
    link = ctx.invites.link
    replies = [reply("invite.code", code=code, role=T(f"role.{role}"))]
    if link:
        replies.append(reply("invite.link", link=link.format(code=code)))
    make_picture = ctx.invites.picture
    if make_picture is not None:  # asked after the turn; no picture, no message
        replies.append(Reply(T("invite.qr"), later=Later(partial(make_picture, code))))
    return replies


def confirm(ctx: Context, args: str) -> list[Reply]:
    """/confirm NAME, or V7 from the buttons of /pending."""
    ref = parse_refs(ctx.table, args.split()[:1]) if args.strip() else None
    if ref and ref[0][0] == "V":
        return confirm_volunteers(ctx, [ref[0][1]])
    person = person_arg(ctx, args, lambda ref: f"/confirm {ref}")
    return confirm_volunteers(ctx, [person.person_id])


def confirm_volunteers(ctx: Context, person_ids: list[int]) -> list[Reply]:
    replies = []
    for person_id in person_ids:
        ctx.services.people.confirm_volunteer(ctx.actor.person_id, ctx.community_id, person_id)
        replies.append(reply("confirm.done", name=ctx.services.people.name_of(person_id)))
    return replies


def waiting_volunteers(ctx: Context) -> list[Reply]:
    """Registered volunteers waiting for a worker, listed in /pending with a confirm button."""
    waiting = ctx.services.people.awaiting_confirmation(ctx.actor.person_id, ctx.community_id, limit=MOST)
    clock = ctx.services.people.clock_of(ctx.community_id)
    return [
        Reply(
            T(
                "confirm.pending_line",
                id=f"V{w.person_id}",
                name=w.name,
                phone=w.phone or "—",
                date=clock.date_of(w.joined_at),
            ),
            (option(f"/confirm V{w.person_id}", "confirm.button"),),
        )
        for w in waiting
    ]


DECIDER = Decider("V", confirm_volunteers, pending=waiting_volunteers)  # /approve V7 confirms too


def confirm_new(ctx: Context, args: str) -> list[Reply]:
    """/confirmnew on|off: new volunteers wait for a worker's /confirm, or not."""
    choice = {"on": True, "开": True, "是": True, "off": False, "关": False, "否": False}.get(args.strip().lower())
    if choice is None:
        return [reply("confirmnew.usage")]
    ctx.services.people.require_confirmation(ctx.actor.person_id, ctx.community_id, choice)
    return [reply("confirmnew.on" if choice else "confirmnew.off")]


def new_community(ctx: Context, args: str) -> list[Reply]:
    if not args:
        return [reply("newcommunity.usage")]
    community = ctx.services.people.create_community(args, actor_id=ctx.actor.person_id)
    ctx.services.people.appoint_worker(ctx.actor.person_id, community.id, ctx.actor.person_id)
    return [reply("newcommunity.done", community=community.name)]


def appoint(ctx: Context, args: str) -> list[Reply]:
    """Appoints in the community the admin acts in now, and says which. `/appoint NAME 网格员
    一网格`: a grid coordinator, which workers may appoint too."""
    name, rest = name_and_rest(ctx, args)
    words = rest.split()
    if words and words[0].lower() in COORDINATOR_WORDS:
        grids = words[1:]
        if not grids:
            return [reply("grids.appoint_usage")]
        return appoint_coordinator(ctx, person_arg(ctx, name, lambda ref: f"/appoint {ref} {rest}"), grids)
    if not ctx.actor.is_admin:
        return [reply("error.need_admin")]
    person = person_arg(ctx, args, lambda ref: f"/appoint {ref}", anyone_by_handle=True)
    ctx.services.people.appoint_worker(ctx.actor.person_id, ctx.community_id, person.person_id, tell=True)
    community = ctx.services.people.community_name(ctx.community_id)
    return [reply("appoint.done", name=person.name, community=community)]


def unappoint(ctx: Context, args: str) -> list[Reply]:
    """Ends a worker's role in the community the admin acts in now, and the family links the
    worker made for themselves under it. `/unappoint NAME 网格员 [一网格]`: a coordinator's
    grids (all of them when none is named), which workers may end too."""
    if not args.strip():
        return [reply("unappoint.usage")]
    name, rest = name_and_rest(ctx, args)
    words = rest.split()
    if words and words[0].lower() in COORDINATOR_WORDS:
        return unappoint_coordinator(ctx, person_arg(ctx, name, lambda ref: f"/unappoint {ref} {rest}"), words[1:])
    if not ctx.actor.is_admin:
        return [reply("error.need_admin")]
    person = person_arg(ctx, args, lambda ref: f"/unappoint {ref}")
    links = ctx.services.people.unappoint_worker(ctx.actor.person_id, ctx.community_id, person.person_id)
    community = ctx.services.people.community_name(ctx.community_id)
    return [reply("unappoint.done", name=person.name, community=community, links=links)]


GRIDS_PAGE = 30


def grids(ctx: Context, args: str) -> list[Reply]:
    """`/grids [page]`: the grids with their coordinators and counts (coordinators: their own);
    `/grids approve on|off`: whether coordinators approve their grid's hours."""
    words = args.split()
    if words and words[0].lower() in ("approve", "审核"):
        choice = {"on": True, "开": True, "off": False, "关": False}.get(words[1].lower() if len(words) > 1 else "")
        if choice is None:
            return [reply("grids.approve_usage")]
        ctx.services.grids.set_coordinators_approve(ctx.actor.person_id, ctx.community_id, choice)
        return [reply("grids.approve_on" if choice else "grids.approve_off")]
    page = int(words[0]) - 1 if words and words[0].isdecimal() and words[0].isascii() else 0
    lines, total = ctx.services.grids.overview(ctx.actor.person_id, ctx.community_id, max(page, 0), GRIDS_PAGE)
    if not lines:
        return [reply("grids.none")]
    pages = (total + GRIDS_PAGE - 1) // GRIDS_PAGE
    shown = [
        T(
            "grids.line",
            name=g.name,
            coordinators="、".join(g.coordinators) or T("grids.no_coordinator"),
            members=g.members,
            elders=g.elders,
        )
        for g in lines
    ]
    options = (option(f"/grids {page + 2}", "grids.next", page=page + 2, pages=pages),) if page + 1 < pages else ()
    return [reply("grids.title", *options, total=total, page=page + 1, pages=pages, lines=shown)]


def grid(ctx: Context, args: str) -> list[Reply]:
    """`/grid NAME 二网格`: puts a member in a grid of the community."""
    name, rest = name_and_rest(ctx, args)
    if not name or not rest.strip():
        return [reply("grids.place_usage")]
    return place_in_grid(ctx, person_arg(ctx, name, lambda ref: f"/grid {ref} {rest}"), rest.strip())


# What /grid, /appoint and /unappoint do once the person is known; the desk's person page calls
# them too, with the person it shows.


def place_in_grid(ctx: Context, person: Found, grid: str) -> list[Reply]:
    placed = ctx.services.grids.place(ctx.actor.person_id, ctx.community_id, person.person_id, grid)
    return [reply("grids.placed", name=person.name, grid=placed)]


def appoint_coordinator(ctx: Context, person: Found, grids: list[str]) -> list[Reply]:
    named = ctx.services.grids.appoint(ctx.actor.person_id, ctx.community_id, person.person_id, grids)
    return [reply("grids.appoint_done", name=person.name, grids="、".join(named))]


def unappoint_coordinator(ctx: Context, person: Found, grids: list[str]) -> list[Reply]:
    """Ends the grids named, all of the person's when none is."""
    ended = ctx.services.grids.unappoint(ctx.actor.person_id, ctx.community_id, person.person_id, grids)
    return [reply("grids.unappoint_done", name=person.name, grids="、".join(ended))]
