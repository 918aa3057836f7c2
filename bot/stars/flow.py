"""The star list on demand (/top), hiding one's name (/privacy), and choosing the group chats
where the weekly and monthly lists are posted (/setgroup, /unsetgroup)."""

from __future__ import annotations

from bot.deadlines.flow import top_workers
from bot.dialogs.core import Context, Reply, option, reply
from bot.kernel.i18n import T, Text, hours
from bot.stars.levels import level_params
from bot.stars.service import MEDALS, Star, StarList, level_mark, list_title
from bot.teams.flow import tag_privacy

PERIOD_WORDS = {
    "week": "week",
    "w": "week",
    "本周": "week",
    "周": "week",
    "周榜": "week",
    "month": "month",
    "m": "month",
    "本月": "month",
    "月": "month",
    "月榜": "month",
    "all": "all",
    "a": "all",
    "总榜": "all",
    "累计": "all",
    "全部": "all",
}

WORKER_WORDS = ("workers", "worker", "工作人员", "社工")
PRIVACY_WORDS = ("on", "hide", "隐藏", "匿名", "off", "show", "显示", "公开")


def top(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    word = words[0].lower() if words else "week"
    if word in WORKER_WORDS:
        return top_workers(ctx)
    list_name = None
    if words and word not in PERIOD_WORDS:  # a tag's or a team's list: /top 党员 [month]
        list_name, words = words[0], words[1:]
        word = words[0].lower() if words else "week"
    kind = PERIOD_WORDS.get(word)
    if kind is None:
        return [reply("error.bad_period")]
    community_id = None
    if ctx.caller.group_chat:  # in an announcement group, its community's list
        community_id = ctx.services.stars.group_community(ctx.caller.channel, ctx.caller.group_chat)
    star_list = ctx.services.stars.top(ctx.actor.person_id, community_id or ctx.community_id, kind, list_name)
    prefix = f"/top {star_list.group} " if star_list.group else "/top "
    others = [option(f"{prefix}{k}", f"stars.period.{k}") for k in ("week", "month", "all") if k != kind]
    # In a group everyone reads it: the rank names its person.
    me = _me_text(star_list, ctx.actor.display_name if ctx.caller.group_chat else None)
    return [Reply(_list_text(star_list)), Reply(me, tuple(others), columns=2)]


def _list_text(star_list: StarList) -> Text:
    title = list_title(star_list)
    if not star_list.stars:
        return T("stars.empty", title=title)
    lines: list[Text] = [_line(s) for s in star_list.stars]
    if star_list.more_tied:
        lines.append(T("stars.more_tied", count=star_list.more_tied, rank=star_list.stars[-1].rank))
    return T("stars.list", title=title, lines=lines)


def _line(star: Star) -> Text:
    name: str | Text = star.name if star.name is not None else T("stars.anonymous")
    if star.level:
        name = T("stars.with_level", name=name, stars=level_mark(star.level))
    return T("stars.line", medal=MEDALS.get(star.rank, "  "), rank=star.rank, name=name, hours=hours(star.minutes))


# --- star levels ----------------------------------------------------------------------------------


def levels(ctx: Context, args: str) -> list[Reply]:
    """The thresholds; a worker sets five new ones, or `default`."""
    args = args.strip()
    service = ctx.services.star_levels
    if args:
        if not ctx.actor.at_least("worker"):
            return [reply("error.need_worker")]
        service.set_thresholds(
            ctx.actor.person_id, ctx.community_id, None if args.lower() in ("default", "默认") else args
        )
    thresholds = service.thresholds(ctx.community_id)
    lines = [T("levels.show_line", **level_params(i), hours=h) for i, h in enumerate(thresholds, start=1)]
    shown = [reply("levels.show", lines=lines)]
    return [reply("levels.set_done"), *shown] if args else shown


def _me_text(star_list: StarList, name: str | None = None) -> Text:
    me, named = star_list.me, {"name": name} if name else {}
    suffix = "_named" if name else ""
    if star_list.unlisted_minutes is not None and not name:  # only the person themselves hears why
        return T("stars.me_unlisted", hours=hours(star_list.unlisted_minutes), tag=star_list.group)
    if me is None:
        return T(f"stars.me_none{suffix}", **named)
    return T(f"stars.me{suffix}", rank=me.rank, hours=hours(me.minutes), participants=star_list.participants, **named)


def privacy(ctx: Context, args: str) -> list[Reply]:
    """/privacy says how the name shows and offers the other way; /privacy on|off sets;
    /privacy 党员 显示|隐藏 is about a tag's list."""
    words = args.split()
    if len(words) == 2 or (len(words) == 1 and words[0].lower() not in PRIVACY_WORDS):
        return tag_privacy(ctx, words[0], words[1].lower() if len(words) == 2 else "")
    word = args.strip().lower()
    if not word:  # ask first: a name is not hidden (or shown) by a bare command
        if ctx.services.stars.name_hidden(ctx.actor.person_id):
            return [reply("privacy.now_hidden", option("/privacy off", "privacy.show_me"))]
        return [reply("privacy.now_shown", option("/privacy on", "privacy.hide_me"), name=ctx.actor.display_name)]
    wanted = (
        True if word in ("on", "hide", "隐藏", "匿名") else False if word in ("off", "show", "显示", "公开") else None
    )
    hidden = ctx.services.stars.set_hidden(ctx.actor.person_id, wanted)
    if hidden:
        return [reply("privacy.hidden", option("/privacy off", "privacy.show_me"))]
    return [reply("privacy.shown", option("/privacy on", "privacy.hide_me"), name=ctx.actor.display_name)]


def setgroup(ctx: Context, args: str) -> list[Reply]:
    if not ctx.caller.group_chat:
        return [reply("setgroup.in_group")]
    group = ctx.services.stars.set_group(
        ctx.actor.person_id, ctx.community_id, ctx.caller.channel, ctx.caller.group_chat
    )
    return [reply("setgroup.done" if group.changed else "setgroup.already", community=group.community)]


def unsetgroup(ctx: Context, args: str) -> list[Reply]:
    if not ctx.caller.group_chat:
        return [reply("error.not_a_group")]
    group = ctx.services.stars.unset_group(ctx.actor.person_id, ctx.caller.channel, ctx.caller.group_chat)
    return [reply("unsetgroup.done", community=group.community)]
