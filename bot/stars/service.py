"""The star list (明星榜): who gave the most approved hours in a week, a month or all time, and
the weekly and monthly posts to each community's announcement groups.

Periods are by service date (the day the service was given, as the volunteer logged it), read in
the community's time zone: a visit on Sunday evening counts for that week even when a worker
approves it on Monday. Ties share a rank (competition ranking: 1, 2, 2, 4)."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial

from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.orm import Session

from bot.kernel.access import get_community, get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, days_after, month_before, week_end, week_start
from bot.kernel.db import Database, claim, reads
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.kernel.i18n import Text, hours, render
from bot.kernel.settings import Settings
from bot.stars import levels as star_levels
from bot.teams.service import WHOLE, StarGroup, chosen_lists, find_group, group_members
from models import AnnouncementGroup, Community, Membership, Notification, Person, PersonTag, ServiceLog

PERIODS = ("week", "month", "all")
TOP = 10
# A long tie at the last place would make a wall of names; past this many rows the post says
# how many more share that rank instead.
MAX_ROWS = 20
JOB = "star-list"


@dataclass(frozen=True)
class Period:
    kind: str  # week, month, all
    start: date | None = None  # inclusive; None for all time
    end: date | None = None  # inclusive

    @property
    def key(self) -> str:
        """Names the period for the once-only claim of a post."""
        if self.kind == "week" and self.start:
            year, week, _ = self.start.isocalendar()
            return f"week:{year}-W{week:02d}"
        if self.kind == "month" and self.start:
            return f"month:{self.start:%Y-%m}"
        return "all"


def period_of(kind: str, today: date) -> Period:
    """The period that contains `today`: this week (Monday to Sunday), this month, all time."""
    if kind == "week":
        return Period("week", week_start(today), week_end(today))
    if kind == "month":
        last = calendar.monthrange(today.year, today.month)[1]
        return Period("month", today.replace(day=1), today.replace(day=last))
    if kind == "all":
        return Period("all")
    raise InvalidInput("error.bad_period")


def previous_period(kind: str, today: date) -> Period:
    """The last period that has ended: what Monday's and the 1st's posts are about."""
    if kind == "week":
        return period_of("week", days_after(today, -7))
    if kind == "month":
        return period_of("month", month_before(today))
    raise InvalidInput("error.bad_period")


def competition_ranks(totals: Iterable[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(person, minutes) → (rank, person, minutes), most minutes first; equal minutes share a
    rank and the next rank skips (1, 2, 2, 4). Ties are listed by person id, so the order is
    stable from one call to the next."""
    ordered = sorted(totals, key=lambda t: (-t[1], t[0]))
    ranked, rank, previous = [], 0, None
    for position, (person_id, minutes) in enumerate(ordered, start=1):
        if minutes != previous:
            rank, previous = position, minutes
        ranked.append((rank, person_id, minutes))
    return ranked


@dataclass(frozen=True)
class Star:
    rank: int
    person_id: int
    name: str | None  # None: the person hides their name (匿名志愿者)
    minutes: int
    level: int = 0  # star level (一星 … 五星) on all-time service hours in the community; 0: none


@dataclass(frozen=True)
class StarList:
    community_id: int
    community: str
    locale: str  # the community's language, for posts to its groups
    period: Period
    stars: tuple[Star, ...]
    more_tied: int  # people who share the last shown rank but did not fit
    participants: int  # people with approved hours in the period
    me: Star | None = None  # the asker, when they have hours in the period
    group: str | None = None  # a tag's or a team's list; None for the whole community
    # The asker carries the list's tag but has not agreed to be on it: their own minutes.
    unlisted_minutes: int | None = None


@dataclass(frozen=True)
class GroupView:
    community_id: int
    community: str
    channel: str
    chat_id: str
    changed: bool  # False when the group already announced for that community


@dataclass(frozen=True)
class PostSummary:
    posted: int
    already: int  # groups whose post for that period was made before (a rerun, another process)
    empty: int  # communities with no approved hours in the period: nothing posted

    def __str__(self) -> str:
        return f"star-list: posted {self.posted}, already posted {self.already}, nothing to post {self.empty}"


class StarsService:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    # --- the list -----------------------------------------------------------------------------

    def top(self, person_id: int, community_id: int, kind: str = "week", list_name: str | None = None) -> StarList:
        """The top of the community (or of one of its tags or teams: `list_name`) for the period
        that contains today, with the asker's own rank. Members of the community (and admins)
        may look. Three queries in all (who asks, the grouped hours with names, and the star
        levels of those shown), as /top is the hot path."""
        if kind not in PERIODS:
            raise InvalidInput("error.bad_period")
        with self.db.uow() as session:
            viewer = (
                session.execute(
                    select(
                        Community.name,
                        Community.timezone,
                        Community.locale,
                        Person.is_admin,
                        Membership.id,
                        Community.options,
                    )
                    .select_from(Community)
                    .join(Person, Person.id == person_id)
                    .outerjoin(
                        Membership, and_(Membership.community_id == Community.id, Membership.person_id == person_id)
                    )
                    .where(Community.id == community_id)
                )
            ).first()
            if viewer is None:
                raise NotFound("error.no_community")
            name, tz, locale, is_admin, membership, options = viewer
            if not is_admin and membership is None:  # as require_role(..., "resident") decides
                raise NotAllowed("error.need_resident")
            period = period_of(kind, self.clock.community(tz).today())
            group, members = None, None
            if list_name is not None:
                group = find_group(session, community_id, list_name)
                if group is None:
                    raise NotFound("starlists.unknown", name=list_name[:32])
                members = group_members(session, community_id, group)
            totals = _totals_stmt([community_id], period, members).subquery()
            rows = (
                session.execute(
                    select(totals.c.person_id, totals.c.minutes, Person.display_name, Person.hide_name).join(
                        Person, Person.id == totals.c.person_id
                    )
                )
            ).all()
            unlisted = None
            if (
                group is not None
                and group.kind == "tag"
                and person_id not in (members or ())
                and session.scalar(
                    select(PersonTag.id).where(
                        PersonTag.community_id == community_id,
                        PersonTag.person_id == person_id,
                        PersonTag.tag == group.name,
                    )
                )
            ):
                own = session.execute(_totals_stmt([community_id], period, {person_id})).first()
                unlisted = int(own.minutes) if own else 0
            names = {p: (None if hidden else display) for p, _, display, hidden in rows}
            found = _star_list(
                community_id, name, locale, period, [(p, int(m)) for p, m, _, _ in rows], names, person_id
            )
            found = with_levels(session, {community_id: found}, {community_id: star_levels.thresholds_in(options)})[
                community_id
            ]
        found = replace(found, unlisted_minutes=unlisted)
        return replace(found, group=group.name) if group is not None and group.kind != "all" else found

    def lists(
        self, kind: str, *, previous: bool = False, community_ids: list[int] | None = None
    ) -> dict[int, StarList]:
        """The star list of every community (or of those given), each in its own time zone:
        the period containing today, or with `previous` the last one that has ended."""
        with self.db.uow() as session:
            return self._lists_for(session, kind, previous, community_ids, self.clock.now())

    def _lists_for(
        self, session: Session, kind: str, previous: bool, community_ids: list[int] | None, now: datetime
    ) -> dict[int, StarList]:
        """One grouped query per distinct date range (usually one for all), one for the names."""
        stmt = select(Community)
        if community_ids is not None:
            stmt = stmt.where(Community.id.in_(community_ids))
        by_period: dict[Period, dict[int, Community]] = {}
        for c in session.scalars(stmt):
            today = self.clock.community(c.timezone).date_of(now)
            period = previous_period(kind, today) if previous else period_of(kind, today)
            by_period.setdefault(period, {})[c.id] = c
        result: dict[int, StarList] = {}
        for period, group in by_period.items():
            result.update(_star_lists(session, group, _totals(session, list(group), period), period))
        return result

    # --- privacy ------------------------------------------------------------------------------

    @reads
    def name_hidden(self, person_id: int) -> bool:
        with self.db.read() as session:
            return bool(get_person(session, person_id).hide_name)

    def set_hidden(self, person_id: int, hidden: bool | None = None) -> bool:
        """Hide or show the person's name on star lists; None toggles. Returns the new state."""

        def work(session: Session) -> bool:
            person = get_person(session, person_id)
            person.hide_name = (not person.hide_name) if hidden is None else hidden
            return person.hide_name

        return self.db.transaction(work)

    # --- announcement groups ------------------------------------------------------------------

    def set_group(self, actor_id: int, community_id: int, channel: str, chat_id: str) -> GroupView:
        """Make a group chat the community's announcement group. Only workers of the community
        (or admins); moving a group from another community needs a worker of that one too."""
        if not chat_id:
            raise InvalidInput("error.not_a_group")

        def work(session: Session) -> GroupView:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            group = _group(session, channel, chat_id)
            if group is not None and group.community_id == community_id:
                return GroupView(community_id, community.name, channel, chat_id, changed=False)
            if group is not None:
                if not _is_worker(session, actor_id, group.community_id):
                    other = get_community(session, group.community_id)
                    raise NotAllowed("error.group_taken", community=other.name)
                previous = group.community_id
                group.community_id, group.set_by_id, group.created_at = community_id, actor_id, self.clock.now()
            else:
                previous = None
                session.add(
                    AnnouncementGroup(
                        community_id=community_id,
                        channel=channel,
                        chat_id=chat_id,
                        set_by_id=actor_id,
                        created_at=self.clock.now(),
                    )
                )
            audit(
                session,
                self.clock,
                "group.set",
                actor_id,
                community_id,
                "group",
                None,
                {"chat": f"{channel}:{chat_id}", "previous_community": previous},
            )
            return GroupView(community_id, community.name, channel, chat_id, changed=True)

        return self.db.transaction(work)

    def unset_group(self, actor_id: int, channel: str, chat_id: str) -> GroupView:
        def work(session: Session) -> GroupView:
            group = _group(session, channel, chat_id)
            if group is None:
                raise NotFound("error.no_group")
            require_role(session, actor_id, group.community_id, "worker")
            community = get_community(session, group.community_id)
            session.execute(delete(AnnouncementGroup).where(AnnouncementGroup.id == group.id))
            audit(
                session,
                self.clock,
                "group.unset",
                actor_id,
                group.community_id,
                "group",
                None,
                {"chat": f"{channel}:{chat_id}"},
            )
            return GroupView(community.id, community.name, channel, chat_id, changed=True)

        return self.db.transaction(work)

    def group_community(self, channel: str, chat_id: str) -> int | None:
        """The community a group chat announces for, if any."""
        with self.db.uow() as session:
            group = _group(session, channel, chat_id)
            return None if group is None else group.community_id

    # --- the scheduled posts ------------------------------------------------------------------

    def post(self, now: datetime, kind: str | None = None) -> PostSummary:
        """Post the star list of the period that just ended to every announcement group: the
        week on a Monday, the month on the 1st (each community's own date), or `kind` now.
        Each group gets each period once: the claim and the notification are one transaction."""
        if kind is not None and kind not in ("week", "month"):
            raise InvalidInput("error.bad_period")
        with self.db.uow() as session:
            rows = (
                session.execute(
                    select(
                        AnnouncementGroup.community_id,
                        AnnouncementGroup.channel,
                        AnnouncementGroup.chat_id,
                        Community.timezone,
                        Community.options,
                    )
                    .join(Community, Community.id == AnnouncementGroup.community_id)
                    .order_by(AnnouncementGroup.community_id, AnnouncementGroup.id)
                )
            ).all()
        groups: dict[int, list[tuple[str, str]]] = {}
        chosen: dict[int, list[str]] = {}
        due: dict[str, list[int]] = {"week": [], "month": []}
        for community_id, channel, chat_id, tz, options in rows:
            chosen[community_id] = chosen_lists(options)
            if community_id not in groups:
                for k in [kind] if kind else _due_kinds(self.clock.community(tz).date_of(now)):
                    due[k].append(community_id)
            groups.setdefault(community_id, []).append((channel, chat_id))
        posted = already = empty = 0
        for k, ids in due.items():
            if not ids:
                continue
            with self.db.uow() as session:
                lists = self._lists_for(session, k, True, ids, now)
                composed = {cid: _compose(session, lists[cid], chosen[cid]) for cid in ids}
            for community_id in ids:
                sections = [sl for sl in composed[community_id] if sl.stars]
                if not sections:
                    empty += 1
                    continue
                done = self.db.transaction(
                    partial(self._post_once, sections=sections, groups=groups[community_id], now=now)
                )
                posted += done
                already += len(groups[community_id]) * len(sections) - done
        return PostSummary(posted, already, empty)

    def compose(self, community_id: int, kind: str) -> list[StarList]:
        """The lists the community's post for the period that just ended includes, one per
        chosen list (总榜, a tag's, a team's), in the order chosen: each is one post or poster."""
        with self.db.uow() as session:
            community = get_community(session, community_id)
            whole = (self._lists_for(session, kind, True, [community_id], self.clock.now()))[community_id]
            return _compose(session, whole, chosen_lists(community.options))

    def _post_once(
        self, session: Session, sections: list[StarList], groups: list[tuple[str, str]], now: datetime
    ) -> int:
        posted = 0
        for star_list in sections:
            params = post_params(star_list)
            key = (
                f"stars.post_{star_list.period.kind}"
                if star_list.group is None
                else f"stars.post_group_{star_list.period.kind}"
            )
            for channel, chat_id in groups:
                # The chat id names the group, so unsetting and setting it again in the same week
                # does not post twice; job_runs.scope holds 32 characters (Telegram ids take 14).
                scope = f"{star_list.community_id}:{chat_id}"[:32]
                if claim(session, JOB, scope, _post_key(star_list), now):
                    session.add(
                        Notification(
                            person_id=None,
                            chat=f"{channel}:{chat_id}",
                            key=key,
                            params=params,
                            created_at=now,
                        )
                    )
                    posted += 1
        return posted


def _post_key(star_list: StarList) -> str:
    """The once-only claim's period: the whole community's keeps the period's own name; a tag's
    or team's adds a short digest of the list's name (job_runs.period holds 32 characters)."""
    if star_list.group is None:
        return star_list.period.key
    return f"{star_list.period.key}:{hashlib.sha1(star_list.group.encode()).hexdigest()[:10]}"


def _compose(session: Session, whole: StarList, names: list[str]) -> list[StarList]:
    composed = []
    for name in names:
        if name == WHOLE:
            composed.append(whole)
            continue
        group = find_group(session, whole.community_id, name)
        if group is not None:  # a team since removed, a tag nobody carries any more: left out
            composed.append(_group_list(session, whole, group))
    return composed


def _group_list(session: Session, whole: StarList, group: StarGroup) -> StarList:
    members = group_members(session, whole.community_id, group)
    totals = [(p, int(m)) for _, p, m in session.execute(_totals_stmt([whole.community_id], whole.period, members))]
    ranked = competition_ranks(totals)
    names = _names(session, {p for r, p, _ in ranked[:MAX_ROWS] if r <= TOP})
    found = _star_list(whole.community_id, whole.community, whole.locale, whole.period, totals, names, None, ranked)
    return replace(with_levels(session, {whole.community_id: found})[whole.community_id], group=group.name)


def _due_kinds(today: date) -> list[str]:
    """Monday posts last week's list, the 1st last month's; a Monday the 1st posts both."""
    return [k for k, on in (("week", today.weekday() == 0), ("month", today.day == 1)) if on]


def list_title(star_list: StarList) -> Text:
    """The heading of a list shown on demand: the community's, or a tag's or team's. With
    `star_lines`, what a post or a poster of one list is made of."""
    period = star_list.period
    params = {"community": star_list.community, "start": period.start or "", "end": period.end or ""}
    if star_list.group is None:
        return Text(f"stars.title_{period.kind}", params)
    return Text(f"stars.group_title_{period.kind}", {**params, "list": star_list.group})


def post_params(star_list: StarList) -> dict:
    """Notification parameters are stored as JSON, so the lines are rendered here, once, in the
    community's language; "_locale" tells the channel which language the rest is in."""
    return {
        "_locale": star_list.locale,
        "community": star_list.community,
        "start": star_list.period.start.isoformat() if star_list.period.start else "",
        "end": star_list.period.end.isoformat() if star_list.period.end else "",
        "month": f"{star_list.period.start:%Y-%m}" if star_list.period.start else "",
        "list": star_list.group or "",
        "lines": "\n".join(star_lines(star_list.locale, star_list)),
        # Channels that can send pictures post the list as a poster, with the text as caption.
        POSTER: poster_params(star_list),
    }


POSTER = "_poster"  # the notification parameter a picture-capable channel draws (bot.stars.drawing)


def poster_params(star_list: StarList) -> dict:
    """What the poster shows, rendered once in the community's language."""
    locale, period = star_list.locale, star_list.period
    rows = [[s.rank, star_line_params(locale, s)["name"], hours(s.minutes)] for s in star_list.stars]
    return {
        "title": render(locale, f"poster.stars_title_{period.kind}", {"community": star_list.community})
        if star_list.group is None
        else render(
            locale,
            f"poster.stars_group_title_{period.kind}",
            {"community": star_list.community, "list": star_list.group},
        ),
        "subtitle": render(locale, "poster.stars_period", {"start": period.start or "", "end": period.end or ""}),
        "rows": rows,
        "hours_label": render(locale, "poster.stars_hours"),
        "footer": render(locale, "poster.stars_footer"),
        "empty": render(locale, "poster.stars_empty"),
    }


def star_lines(locale: str, star_list: StarList) -> list[str]:
    lines = [render(locale, "stars.line", star_line_params(locale, s)) for s in star_list.stars]
    if star_list.more_tied:
        lines.append(
            render(locale, "stars.more_tied", {"count": star_list.more_tied, "rank": star_list.stars[-1].rank})
        )
    return lines


MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def star_line_params(locale: str, star: Star) -> dict:
    name = star.name if star.name is not None else render(locale, "stars.anonymous")
    return {
        "medal": MEDALS.get(star.rank, "  "),
        "rank": star.rank,
        "name": f"{name} {level_mark(star.level)}" if star.level else name,
        "hours": hours(star.minutes),
    }


def level_mark(level: int) -> str:
    """A star level beside a name on a list: ★★★ (the same in both languages)."""
    return "★" * level


def with_levels(
    session: Session, lists: dict[int, StarList], thresholds: dict[int, tuple[int, ...]] | None = None
) -> dict[int, StarList]:
    """The lists with the star level of everyone shown (and the asker), read in one query (two
    when the communities' thresholds are not given)."""
    wanted = {(sl.community_id, s.person_id) for sl in lists.values() for s in (*sl.stars, *filter(None, [sl.me]))}
    if not wanted:
        return lists
    found = star_levels.levels_of(session, wanted, thresholds)

    def leveled(star: Star) -> Star:
        return replace(star, level=found.get((star_list.community_id, star.person_id), 0))

    out = {}
    for c, star_list in lists.items():
        out[c] = replace(
            star_list,
            stars=tuple(leveled(s) for s in star_list.stars),
            me=leveled(star_list.me) if star_list.me else None,
        )
    return out


# --- queries --------------------------------------------------------------------------------------


def _totals_stmt(community_ids: list[int], period: Period, members: set[int] | None = None) -> Select:
    """Approved minutes per person, per community, in the period: one grouped query that the
    ix_service_logs_stars index answers on its own. `members`: only these people (a tag's or
    a team's list)."""
    stmt = (
        select(ServiceLog.community_id, ServiceLog.person_id, func.sum(ServiceLog.minutes).label("minutes"))
        .where(ServiceLog.status == "approved")
        .group_by(ServiceLog.community_id, ServiceLog.person_id)
    )
    stmt = (
        stmt.where(ServiceLog.community_id == community_ids[0])
        if len(community_ids) == 1
        else stmt.where(ServiceLog.community_id.in_(community_ids))
    )
    if period.start is not None:
        stmt = stmt.where(ServiceLog.service_date >= period.start, ServiceLog.service_date <= period.end)
    if members is not None:
        stmt = stmt.where(ServiceLog.person_id.in_(sorted(members)))
    return stmt


def _totals(session: Session, community_ids: list[int], period: Period) -> dict[int, list[tuple[int, int]]]:
    totals: dict[int, list[tuple[int, int]]] = {c: [] for c in community_ids}
    for community_id, person_id, minutes in session.execute(_totals_stmt(community_ids, period)):
        totals[community_id].append((person_id, int(minutes)))
    return totals


def _star_lists(
    session: Session,
    communities: dict[int, Community],
    totals: dict[int, list[tuple[int, int]]],
    period: Period,
) -> dict[int, StarList]:
    """Lists for many communities: the names of only those shown are read, in one query."""
    ranked = {c: competition_ranks(rows) for c, rows in totals.items()}
    shown = {p for rows in ranked.values() for r, p, _ in rows[:MAX_ROWS] if r <= TOP}
    names = _names(session, shown)
    return with_levels(
        session,
        {
            c: _star_list(c, communities[c].name, communities[c].locale, period, totals[c], names, None, ranked[c])
            for c in totals
        },
        {c: star_levels.thresholds(communities[c]) for c in totals},
    )


def _star_list(
    community_id: int,
    community: str,
    locale: str,
    period: Period,
    totals: list[tuple[int, int]],
    names: dict[int, str | None],
    me: int | None,
    ranked: list[tuple[int, int, int]] | None = None,
) -> StarList:
    ranked = ranked if ranked is not None else competition_ranks(totals)
    top = [r for r in ranked if r[0] <= TOP]
    shown = top[:MAX_ROWS]
    mine = next((r for r in ranked if r[1] == me), None) if me is not None else None
    return StarList(
        community_id,
        community,
        locale,
        period,
        tuple(Star(r, p, names.get(p), m) for r, p, m in shown),
        len(top) - len(shown),
        len(totals),
        Star(mine[0], mine[1], names.get(mine[1]), mine[2]) if mine else None,
    )


def _names(session: Session, person_ids: set[int]) -> dict[int, str | None]:
    """Display names only (never real names or phones); None for people who hide their name."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(Person.id, Person.display_name, Person.hide_name).where(Person.id.in_(sorted(person_ids)))
    )
    return {pid: (None if hidden else name) for pid, name, hidden in rows}


def _group(session: Session, channel: str, chat_id: str) -> AnnouncementGroup | None:
    return session.scalar(
        select(AnnouncementGroup).where(AnnouncementGroup.channel == channel, AnnouncementGroup.chat_id == chat_id)
    )


def _is_worker(session: Session, person_id: int, community_id: int) -> bool:
    person = get_person(session, person_id)
    return person.is_admin or role_in(session, person_id, community_id) == "worker"
