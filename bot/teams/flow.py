"""Tags (/tag, /untag, /tags), teams (/team, /teams, /teamlog) and the lists the weekly and
monthly star-list posts include (/starlists)."""

from __future__ import annotations

from datetime import date

from bot.dialogs.common import name_and_rest, names_in, person_arg, repeat_step
from bot.dialogs.core import MAX_OPTION_BYTES, Context, Reply, option, reply
from bot.dialogs.parse import next_word, parse_duration, read_date
from bot.hours.flow import _category, _today
from bot.kernel.errors import LooksRepeated
from bot.kernel.i18n import T, Text, hours
from bot.people.service import Found

ALL_WORDS = ("all", "全部", "全体")
ADD_WORDS, REMOVE_WORDS, LEADER_WORDS = ("add", "加入", "添加"), ("remove", "移除", "删除"), ("leader", "队长")


# --- tags ---------------------------------------------------------------------------------------


def tag(ctx: Context, args: str) -> list[Reply]:
    """/tag NAME 党员; /tag NAME alone offers the community's tags as buttons."""
    name, rest = name_and_rest(ctx, args)
    words = [name, *rest.split()] if name else []
    if not words:
        return [reply("tags.tag_usage")]
    person = person_arg(ctx, words[0])
    if len(words) == 1:
        counts = ctx.services.teams.tag_counts(ctx.actor.person_id, ctx.community_id)
        values = [(f"/tag {words[0]} {c.tag}", c.tag) for c in counts]
        choices = tuple(option(v, "tags.choice", tag=t) for v, t in values if len(v.encode()) <= MAX_OPTION_BYTES)
        return [Reply(T("tags.ask_tag", name=person.name), choices, columns=3)]
    return tag_person(ctx, person, words[1])


def untag(ctx: Context, args: str) -> list[Reply]:
    name, rest = name_and_rest(ctx, args)
    words = [name, *rest.split()] if name else []
    if len(words) != 2:
        return [reply("tags.untag_usage")]
    return untag_person(ctx, person_arg(ctx, words[0]), words[1])


# What /tag and /untag do once the person is known; the desk's person page calls them too.


def tag_person(ctx: Context, person: Found, tag: str) -> list[Reply]:
    changed = ctx.services.teams.tag(ctx.actor.person_id, ctx.community_id, person.person_id, tag)
    return [reply("tags.tagged" if changed else "tags.already", name=person.name, tag=tag)]


def untag_person(ctx: Context, person: Found, tag: str) -> list[Reply]:
    changed = ctx.services.teams.untag(ctx.actor.person_id, ctx.community_id, person.person_id, tag)
    return [reply("tags.untagged" if changed else "tags.not_tagged", name=person.name, tag=tag)]


def tags(ctx: Context, args: str) -> list[Reply]:
    """A member: their own tags and whether each shows on its star list. A worker: the
    community's tags, or (/tags NAME) a member's."""
    if args.strip():
        person = person_arg(ctx, args)
        found = ctx.services.teams.tags_of(ctx.actor.person_id, ctx.community_id, person.person_id)
        if not found:
            return [reply("tags.none_for", name=person.name)]
        return [reply("tags.of", name=person.name, lines=[_tag_line(t.tag, t.shown) for t in found])]
    if ctx.actor.at_least("worker"):
        counts = ctx.services.teams.tag_counts(ctx.actor.person_id, ctx.community_id)
        return [
            reply(
                "tags.community",
                lines=[T("tags.count_line", tag=c.tag, members=c.members, shown=c.shown) for c in counts],
            )
        ]
    mine = ctx.services.teams.tags_of(ctx.actor.person_id, ctx.community_id, ctx.actor.person_id)
    if not mine:
        return [reply("tags.none_mine")]
    # Tag names are short enough (teams.MAX_NAME) for "/privacy TAG show" to fit a button.
    options = tuple(
        option(
            f"/privacy {t.tag} {'hide' if t.shown else 'show'}",
            "tags.hide_button" if t.shown else "tags.show_button",
            tag=t.tag,
        )
        for t in mine
    )
    return [Reply(T("tags.mine", lines=[_tag_line(t.tag, t.shown) for t in mine]), options)]


def _tag_line(tag: str, shown: bool) -> Text:
    return T("tags.line_shown" if shown else "tags.line_hidden", tag=tag)


def tag_privacy(ctx: Context, tag: str, word: str) -> list[Reply]:
    """/privacy 党员 显示|隐藏: the member's own consent to appear on that tag's star list."""
    shown = word in ("show", "显示", "公开", "off", "同意")
    if not shown and word not in ("hide", "隐藏", "on", "匿名", "不同意"):
        return [reply("tags.privacy_usage", tag=tag)]
    ctx.services.teams.set_tag_shown(ctx.actor.person_id, ctx.community_id, tag, shown)
    return [reply("tags.now_shown" if shown else "tags.now_hidden", tag=tag)]


# --- teams --------------------------------------------------------------------------------------


def teams(ctx: Context, args: str) -> list[Reply]:
    found = ctx.services.teams.teams(ctx.actor.person_id, ctx.community_id)
    if not found:
        return [reply("teams.none")]
    return [
        reply(
            "teams.list",
            lines=[T("teams.line", team=t.name, count=len(t.members), leader=t.leader or "—") for t in found],
        )
    ]


def team(ctx: Context, args: str) -> list[Reply]:
    """/team new NAME · /team NAME · /team NAME add|remove A B … · /team NAME leader A."""
    words = args.split()
    if not words:
        return [reply("teams.usage")]
    if words[0] in ("new", "新建"):
        if len(words) != 2:
            return [reply("teams.usage")]
        created = ctx.services.teams.create_team(ctx.actor.person_id, ctx.community_id, words[1])
        return [reply("teams.created", team=created.name)]
    name, action = words[0], (words[1] if len(words) > 1 else "")
    names = names_in(ctx, next_word(next_word(args)[1])[1])
    if not action:
        view = ctx.services.teams.team(ctx.actor.person_id, ctx.community_id, name)
        return [
            reply(
                "teams.show",
                team=view.name,
                leader=view.leader or "—",
                count=len(view.members),
                members="、".join(view.members) or "—",
            )
        ]
    if action not in (*ADD_WORDS, *REMOVE_WORDS, *LEADER_WORDS) or not names:
        return [reply("teams.usage")]
    people = [person_arg(ctx, n) for n in names]
    if action in LEADER_WORDS:
        if len(people) != 1:
            return [reply("teams.usage")]
        view = ctx.services.teams.set_leader(ctx.actor.person_id, ctx.community_id, name, people[0].person_id)
        return [reply("teams.leader_set", team=view.name, leader=view.leader)]
    view, changed = ctx.services.teams.change_members(
        ctx.actor.person_id, ctx.community_id, name, [p.person_id for p in people], add=action in ADD_WORDS
    )
    return [
        reply(
            "teams.added" if action in ADD_WORDS else "teams.removed",
            team=view.name,
            changed=changed,
            count=len(view.members),
        )
    ]


def teamlog(ctx: Context, args: str) -> list[Reply]:
    """The leader: /teamlog TEAM 2h 探访 [date] NAME … | 全部 — hours for the team's members at
    an event, waiting for a worker's approval."""
    team, rest = next_word(args)
    typed, rest = next_word(rest)
    typed_category, rest = next_word(rest)
    if not rest or (minutes := parse_duration(typed)) is None:
        return [reply("teams.log_usage")]
    category = _category(ctx, typed_category)
    service_date = _today(ctx)
    first, after = next_word(rest)
    if (found := read_date(first, service_date)) is not None:
        service_date, rest = found, after
    if not rest:
        return [reply("teams.log_usage")]
    ids = None if next_word(rest)[0] in ALL_WORDS else [(person_arg(ctx, n)).person_id for n in names_in(ctx, rest)]
    data = {
        "team": team,
        "ids": ids,
        "category_id": category.id,
        "service_date": service_date.isoformat(),
        "minutes": minutes,
    }
    try:
        return _teamlog(ctx, data, ctx.key(), repeat_ok=False)
    except LooksRepeated as exc:
        return _ask_teamlog_again(ctx, exc, **data)


def _teamlog(ctx: Context, data: dict, request_key: str | None, *, repeat_ok: bool = True) -> list[Reply]:
    logs = ctx.services.teams.record_for_team(
        ctx.actor.person_id,
        ctx.community_id,
        data["team"],
        data["ids"],
        category_id=data["category_id"],
        service_date=date.fromisoformat(data["service_date"]),
        minutes=data["minutes"],
        request_key=request_key,
        repeat_ok=repeat_ok,
    )
    return [
        reply(
            "teams.logged",
            team=data["team"],
            count=len(logs),
            hours=hours(data["minutes"]),
            ids=" ".join(f"H{log.id}" for log in logs),
        )
    ]


_ask_teamlog_again, teamlog_again = repeat_step("teamlog", _teamlog)


# --- which lists the posts include --------------------------------------------------------------


def starlists(ctx: Context, args: str) -> list[Reply]:
    """/starlists shows the choice; /starlists 总榜 党员 党员先锋队 sets it."""
    words = args.split()
    if words:
        chosen = ctx.services.teams.set_star_lists(ctx.actor.person_id, ctx.community_id, words)
        return [reply("starlists.set", lists="、".join(chosen))]
    chosen, available = ctx.services.teams.star_lists(ctx.actor.person_id, ctx.community_id)
    return [reply("starlists.show", lists="、".join(chosen), available="、".join(available))]
