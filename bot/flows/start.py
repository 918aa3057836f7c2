"""Joining, volunteer registration, help, language, cancel, and admin set-up commands."""

from __future__ import annotations

from dataclasses import replace

from bot.dialogs.core import COMMANDS, Context, Input, Reply, command, option, reply, step
from bot.errors import InvalidInput
from bot.flows.common import person_arg
from bot.i18n import T
from bot.services.people import clean_name

LINKS: dict[str, str] = {}  # channel → invite link template with {code}, set by the adapters


@command("start", role=None, help_key="help.start")
async def start(ctx: Context, args: str) -> list[Reply]:
    if args:
        return await _join(ctx, args.split()[0])
    if ctx.actor.community_id is None and not ctx.actor.is_admin:
        return [reply("start.welcome_new")]
    return [reply("start.welcome_back", name=ctx.actor.display_name), *await help_(ctx, "")]


async def _join(ctx: Context, code: str) -> list[Reply]:
    member = await ctx.services.people.join(ctx.actor.person_id, code)
    community = await ctx.services.people.community_name(member.community_id)
    replies = [reply("start.joined", community=community)]
    if member.role == "resident" and member.invited_as == "volunteer":
        ctx.goto("register", "name", community_id=member.community_id)
        replies.append(reply("register.ask_name"))
    return replies


@command("volunteer", help_key="help.volunteer")
async def volunteer(ctx: Context, args: str) -> list[Reply]:
    if ctx.actor.role in ("volunteer", "worker"):
        return [reply("register.already")]
    ctx.goto("register", "name", community_id=ctx.community_id)
    return [reply("register.ask_name")]


@step("register", "name")
async def register_name(ctx: Context, inp: Input) -> list[Reply]:
    try:
        name = clean_name(inp.text)
    except InvalidInput:
        return [reply("register.ask_name_again")]
    ctx.goto("register", "phone", real_name=name)
    return [Reply(T("register.ask_phone"), request_contact=True)]


@step("register", "phone")
async def register_phone(ctx: Context, inp: Input) -> list[Reply]:
    if inp.contact_phone and not inp.contact_is_own:
        return [Reply(T("register.not_own_contact"), request_contact=True)]
    phone = inp.contact_phone or inp.text
    try:
        member = await ctx.services.people.register_volunteer(
            ctx.actor.person_id, ctx.data["community_id"], ctx.data["real_name"], phone
        )
    except InvalidInput:
        return [Reply(T("register.ask_phone_again"), request_contact=True)]
    ctx.finish()
    return [reply("register.done" if member.confirmed else "register.awaiting_confirmation")]


@command("help", role=None, help_key="help.help", aliases=("帮助",), group_ok=True)
async def help_(ctx: Context, args: str) -> list[Reply]:
    lines = [
        T(spec.help_key)
        for spec in COMMANDS.values()
        if spec.help_key and (not spec.admin_only or ctx.actor.is_admin)
        and (spec.role is None or ctx.actor.at_least(spec.role))
    ]
    return [reply("help.title", commands=lines)]


@command("lang", role=None, help_key="help.lang", aliases=("language", "语言"))
async def lang(ctx: Context, args: str) -> list[Reply]:
    choice = {"zh": "zh-CN", "zh-cn": "zh-CN", "中文": "zh-CN", "en": "en", "english": "en"}.get(args.lower())
    if choice is None:
        ctx.goto("lang", "choose")
        return [reply("lang.choose", option("zh-CN", "lang.zh"), option("en", "lang.en"), columns=2)]
    return await _set_lang(ctx, choice)


@step("lang", "choose")
async def lang_choose(ctx: Context, inp: Input) -> list[Reply]:
    choice = inp.option or inp.text.strip()
    if choice not in ("zh-CN", "en"):
        return [reply("lang.choose", option("zh-CN", "lang.zh"), option("en", "lang.en"), columns=2)]
    ctx.finish()
    return await _set_lang(ctx, choice)


async def _set_lang(ctx: Context, locale: str) -> list[Reply]:
    await ctx.services.people.set_locale(ctx.actor.person_id, locale)
    ctx.actor = replace(ctx.actor, locale=locale)  # answer in the new language at once
    return [reply("lang.set")]


@command("community", role=None, help_key="help.community", aliases=("社区",))
async def community(ctx: Context, args: str) -> list[Reply]:
    """Switch the community one acts in (members of several, and admins)."""
    if args:
        found = await ctx.services.people.switch_community(ctx.actor.person_id, args)
        ctx.finish()
        return [reply("switch.done", community=found.name)]
    names = await ctx.services.people.communities(ctx.actor.person_id)
    if not names:
        return [reply("error.no_community_yet")]
    return [reply("switch.choose", *(option(f"/community {n}", "switch.option", name=n) for n in names
                                        if len(f"/community {n}".encode()) <= 64))]


@command("cancel", role=None, help_key="help.cancel", aliases=("取消",), for_relative=True)
async def cancel(ctx: Context, args: str) -> list[Reply]:
    had_flow = ctx.flow is not None
    ctx.finish()
    return [reply("cancel.done" if had_flow else "cancel.nothing")]


@command("invite", role="worker", help_key="help.invite")
async def invite(ctx: Context, args: str) -> list[Reply]:
    role = "resident" if args.strip().lower() in ("resident", "居民") else "volunteer"
    code = await ctx.services.people.create_invite(ctx.actor.person_id, ctx.community_id, role=role)
    link = LINKS.get(ctx.actor.channel)
    replies = [reply("invite.code", code=code, role=T(f"role.{role}"))]
    if link:
        replies.append(reply("invite.link", link=link.format(code=code)))
    return replies


@command("confirm", role="worker", help_key="help.confirm")
async def confirm(ctx: Context, args: str) -> list[Reply]:
    person = await person_arg(ctx, args)
    await ctx.services.people.confirm_volunteer(ctx.actor.person_id, ctx.community_id, person.id)
    return [reply("confirm.done", name=person.display_name)]


@command("confirmnew", role="worker", help_key="help.confirmnew")
async def confirm_new(ctx: Context, args: str) -> list[Reply]:
    """/confirmnew on|off: new volunteers wait for a worker's /confirm, or not."""
    choice = {"on": True, "开": True, "是": True, "off": False, "关": False, "否": False}.get(args.strip().lower())
    if choice is None:
        return [reply("confirmnew.usage")]
    await ctx.services.people.require_confirmation(ctx.actor.person_id, ctx.community_id, choice)
    return [reply("confirmnew.on" if choice else "confirmnew.off")]


@command("newcommunity", role=None, admin_only=True, help_key="help.newcommunity")
async def new_community(ctx: Context, args: str) -> list[Reply]:
    if not args:
        return [reply("newcommunity.usage")]
    community = await ctx.services.people.create_community(args, actor_id=ctx.actor.person_id)
    await ctx.services.people.appoint_worker(ctx.actor.person_id, community.id, ctx.actor.person_id)
    return [reply("newcommunity.done", community=community.name)]


@command("appoint", role=None, admin_only=True, help_key="help.appoint")
async def appoint(ctx: Context, args: str) -> list[Reply]:
    person = await person_arg(ctx, args)
    await ctx.services.people.appoint_worker(ctx.actor.person_id, ctx.community_id, person.id)
    return [reply("appoint.done", name=person.display_name)]
