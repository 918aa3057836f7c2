"""Member tags (党员, 青年, 以老助老 …) and volunteer teams (志愿服务队), and the star lists a
community publishes: the whole community (总榜), a tag's list or a team's list.

Tags are personal information: workers see them, a member sees their own, and a member is on a
tag's star list only after agreeing to be (`/privacy 党员 显示`). A team leader records hours for
the team's members; those wait for a worker like anyone's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from bot.hours.service import HoursService, LogView, tell_deciders
from bot.kernel.access import get_community, get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.kernel.i18n import render
from bot.messages.notify import notify
from bot.points.service import Earned, earned
from bot.reports.service import Column, Sheet
from models import Person, PersonTag, Team, TeamMember

DEFAULT_TAGS = ("党员", "青年", "以老助老")
# The whole community's list, by whichever name a worker types.
WHOLE = "总榜"
WHOLE_WORDS = {WHOLE, "全社区", "all", "community"}
# Short enough for a button: "/top NAME month" fits Telegram's 64 bytes of callback data.
MAX_NAME = 16


@dataclass(frozen=True)
class StarGroup:
    """A star list a community can show: the whole community, a tag's or a team's."""

    kind: str  # all | tag | team
    name: str
    team_id: int | None = None


@dataclass(frozen=True)
class TagView:
    tag: str
    shown: bool  # the member agreed to be on this tag's star list


@dataclass(frozen=True)
class TagCount:
    tag: str
    members: int
    shown: int


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    leader: str | None
    members: tuple[str, ...]


def clean_name(text: str) -> str:
    name = " ".join((text or "").split())
    if not name or len(name) > MAX_NAME or " " in name or name.startswith("/"):
        raise InvalidInput("tags.bad_name", limit=MAX_NAME)
    return name


# --- reading groups (the star list reads these) ---------------------------------------------------


def find_group(session: Session, community_id: int, word: str) -> StarGroup | None:
    """What a list's name means in the community: 总榜, a team's name, or a tag someone has (or
    a default tag). A team wins over a tag of the same name."""
    word = word.strip()
    if word in WHOLE_WORDS or word.lower() in WHOLE_WORDS:
        return StarGroup("all", WHOLE)
    team = session.scalar(select(Team).where(Team.community_id == community_id, Team.name == word))
    if team is not None:
        return StarGroup("team", team.name, team.id)
    if word in DEFAULT_TAGS or session.scalar(
        select(PersonTag.id).where(PersonTag.community_id == community_id, PersonTag.tag == word).limit(1)
    ):
        return StarGroup("tag", word)
    return None


def group_members(session: Session, community_id: int, group: StarGroup) -> set[int] | None:
    """Who may appear on the group's list; None for the whole community. A tag's list holds
    only those who agreed to be shown on it."""
    if group.kind == "all":
        return None
    if group.kind == "team":
        return set(session.scalars(select(TeamMember.person_id).where(TeamMember.team_id == group.team_id)))
    return set(
        session.scalars(
            select(PersonTag.person_id).where(
                PersonTag.community_id == community_id, PersonTag.tag == group.name, PersonTag.shown.is_(True)
            )
        )
    )


def chosen_lists(options: dict | None) -> list[str]:
    """The lists a community's weekly and monthly posts include, in order (from its options)."""
    return list((options or {}).get("star_lists") or [WHOLE])


# --- the service ---------------------------------------------------------------------------------


class TeamsService:
    def __init__(self, db: Database, clock: Clock, hours: HoursService) -> None:
        self.db, self.clock, self.hours = db, clock, hours

    # --- tags ---------------------------------------------------------------------------------

    def tag(self, worker_id: int, community_id: int, person_id: int, tag: str) -> bool:
        tag = clean_name(tag)

        def work(session: Session) -> bool:
            require_role(session, worker_id, community_id, "worker")
            person = _member(session, person_id, community_id)
            if _person_tag(session, community_id, person_id, tag) is not None:
                return False
            session.add(
                PersonTag(
                    community_id=community_id,
                    person_id=person_id,
                    tag=tag,
                    shown=False,
                    tagged_by_id=worker_id,
                    created_at=self.clock.now(),
                )
            )
            audit(session, self.clock, "tag.add", worker_id, community_id, "person", person_id, {"tag": tag})
            notify(session, self.clock, person.id, "tags.you_were_tagged", tag=tag)
            return True

        return self.db.transaction(work)

    def untag(self, worker_id: int, community_id: int, person_id: int, tag: str) -> bool:
        tag = clean_name(tag)

        def work(session: Session) -> bool:
            require_role(session, worker_id, community_id, "worker")
            found = _person_tag(session, community_id, person_id, tag)
            if found is None:
                return False
            session.delete(found)
            audit(session, self.clock, "tag.remove", worker_id, community_id, "person", person_id, {"tag": tag})
            return True

        return self.db.transaction(work)

    @reads
    def tags_of(self, viewer_id: int, community_id: int, person_id: int) -> list[TagView]:
        """A member's tags: for themselves, or for a worker of the community."""
        with self.db.read() as session:
            if viewer_id != person_id:
                require_role(session, viewer_id, community_id, "worker")
            rows = session.execute(
                select(PersonTag.tag, PersonTag.shown)
                .where(PersonTag.community_id == community_id, PersonTag.person_id == person_id)
                .order_by(PersonTag.id)
            )
            return [TagView(t, s) for t, s in rows]

    @reads
    def tag_counts(self, worker_id: int, community_id: int) -> list[TagCount]:
        """Every tag of the community with how many carry it and how many agreed to be shown;
        the default tags first, even when nobody carries them yet."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            rows = {
                t: (int(n), int(s or 0))
                for t, n, s in session.execute(
                    select(PersonTag.tag, func.count(), func.sum(case((PersonTag.shown.is_(True), 1), else_=0)))
                    .where(PersonTag.community_id == community_id)
                    .group_by(PersonTag.tag)
                )
            }
        names = [*DEFAULT_TAGS, *sorted(t for t in rows if t not in DEFAULT_TAGS)]
        return [TagCount(t, *rows.get(t, (0, 0))) for t in names]

    def set_tag_shown(self, person_id: int, community_id: int, tag: str, shown: bool) -> bool:
        """The member's own choice: be on the tag's star list, or not. Returns whether it changed."""

        def work(session: Session) -> bool:
            found = _person_tag(session, community_id, person_id, tag.strip())
            if found is None:
                raise NotFound("tags.not_yours", tag=tag.strip()[:MAX_NAME])
            if found.shown == shown:
                return False
            found.shown = shown
            audit(
                session,
                self.clock,
                "tag.shown" if shown else "tag.hidden",
                person_id,
                community_id,
                "person",
                person_id,
                {"tag": found.tag},
            )
            return True

        return self.db.transaction(work)

    # --- teams --------------------------------------------------------------------------------

    def create_team(self, worker_id: int, community_id: int, name: str) -> TeamView:
        name = clean_name(name)
        if name in WHOLE_WORDS:
            raise InvalidInput("teams.reserved", name=name)

        def work(session: Session) -> TeamView:
            require_role(session, worker_id, community_id, "worker")
            if session.scalar(select(Team.id).where(Team.community_id == community_id, Team.name == name)):
                raise InvalidInput("teams.exists", team=name)
            team = Team(community_id=community_id, name=name, created_by_id=worker_id, created_at=self.clock.now())
            session.add(team)
            session.flush()
            audit(session, self.clock, "team.create", worker_id, community_id, "team", team.id, {"name": name})
            return _team_view(session, team)

        return self.db.transaction(work)

    def change_members(
        self, worker_id: int, community_id: int, team_name: str, person_ids: list[int], add: bool
    ) -> tuple[TeamView, int]:
        """Add or remove members; returns the team and how many changed."""

        def work(session: Session) -> tuple[TeamView, int]:
            require_role(session, worker_id, community_id, "worker")
            team = _team(session, community_id, team_name)
            changed = 0
            for person_id in dict.fromkeys(person_ids):
                if add:
                    _member(session, person_id, community_id)
                    if not _in_team(session, team.id, person_id):
                        session.add(TeamMember(team_id=team.id, person_id=person_id, added_at=self.clock.now()))
                        changed += 1
                else:
                    gone = session.execute(
                        delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.person_id == person_id)
                    )
                    changed += rowcount(gone)
                    if team.leader_id == person_id:
                        team.leader_id = None
            session.flush()
            audit(
                session,
                self.clock,
                "team.add" if add else "team.remove",
                worker_id,
                community_id,
                "team",
                team.id,
                {"people": person_ids},
            )
            return _team_view(session, team), changed

        return self.db.transaction(work)

    def set_leader(self, worker_id: int, community_id: int, team_name: str, person_id: int) -> TeamView:
        """The leader is one of the team's members (added if not yet)."""

        def work(session: Session) -> TeamView:
            require_role(session, worker_id, community_id, "worker")
            team = _team(session, community_id, team_name)
            _member(session, person_id, community_id)
            if not _in_team(session, team.id, person_id):
                session.add(TeamMember(team_id=team.id, person_id=person_id, added_at=self.clock.now()))
            team.leader_id = person_id
            session.flush()
            audit(session, self.clock, "team.leader", worker_id, community_id, "team", team.id, {"leader": person_id})
            notify(session, self.clock, person_id, "teams.you_lead", team=team.name)
            return _team_view(session, team)

        return self.db.transaction(work)

    @reads
    def teams(self, viewer_id: int, community_id: int) -> list[TeamView]:
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "resident")
            teams = session.scalars(select(Team).where(Team.community_id == community_id).order_by(Team.id))
            return [_team_view(session, t) for t in teams]

    @reads
    def team(self, viewer_id: int, community_id: int, name: str) -> TeamView:
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "resident")
            return _team_view(session, _team(session, community_id, name))

    def record_for_team(
        self,
        leader_id: int,
        community_id: int,
        team_name: str,
        person_ids: list[int] | None,
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        request_key: str | None,
        repeat_ok: bool = True,
    ) -> list[LogView]:
        """The team's leader records an event's hours for members of the team (None: all of
        them). The logs wait for a worker's approval like the members' own. With `repeat_ok`
        False, a member's log just like this one that day is refused as LooksRepeated."""

        def work(session: Session) -> list[LogView]:
            team = _team(session, community_id, team_name)
            if team.leader_id != leader_id:
                raise NotAllowed("teams.not_leader", team=team.name)
            members = list(
                session.scalars(
                    select(TeamMember.person_id).where(TeamMember.team_id == team.id).order_by(TeamMember.id)
                )
            )
            chosen = members if person_ids is None else list(dict.fromkeys(person_ids))
            if not chosen:
                raise InvalidInput("error.no_volunteers")
            strangers = [p for p in chosen if p not in members]
            if strangers:
                raise NotAllowed(
                    "teams.not_member", person=(get_person(session, strangers[0])).display_name, team=team.name
                )
            logs, new = [], False
            for i, person_id in enumerate(chosen):
                log, created = self.hours.add_pending(
                    session,
                    person_id,
                    community_id,
                    category_id=category_id,
                    service_date=service_date,
                    minutes=minutes,
                    submitted_by=leader_id,
                    event_name=team.name,
                    request_key=f"{request_key}:{i}" if request_key else None,
                    repeat_ok=repeat_ok,
                )
                logs.append(log)
                new = new or created
            if new:
                tell_deciders(session, self.clock, community_id, [log.person_id for log in logs])
            return logs

        return self.db.transaction(work)

    # --- which lists the posts include --------------------------------------------------------

    def set_star_lists(self, worker_id: int, community_id: int, words: list[str]) -> list[str]:
        if not words:
            raise InvalidInput("starlists.usage")

        def work(session: Session) -> list[str]:
            require_role(session, worker_id, community_id, "worker")
            names = []
            for word in dict.fromkeys(words):
                group = find_group(session, community_id, word)
                if group is None:
                    raise NotFound("starlists.unknown", name=word[:MAX_NAME])
                if group.name not in names:
                    names.append(group.name)
            community = get_community(session, community_id)
            community.options = {**(community.options or {}), "star_lists": names}
            audit(session, self.clock, "starlists.set", worker_id, community_id, details={"lists": names})
            return names

        return self.db.transaction(work)

    @reads
    def star_lists(self, viewer_id: int, community_id: int) -> tuple[list[str], list[str]]:
        """The chosen lists, and every list the community could choose."""
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "worker")
            community = get_community(session, community_id)
            teams = list(session.scalars(select(Team.name).where(Team.community_id == community_id).order_by(Team.id)))
            tags = set(session.scalars(select(PersonTag.tag).where(PersonTag.community_id == community_id)))
        available = [WHOLE, *teams, *DEFAULT_TAGS, *sorted(tags - set(DEFAULT_TAGS) - set(teams))]
        return chosen_lists(community.options), list(dict.fromkeys(available))


def _member(session: Session, person_id: int, community_id: int) -> Person:
    person = get_person(session, person_id)
    if role_in(session, person_id, community_id) is None:
        raise NotFound("teams.not_in_community", person=person.display_name)
    return person


def _person_tag(session: Session, community_id: int, person_id: int, tag: str) -> PersonTag | None:
    return session.scalar(
        select(PersonTag).where(
            PersonTag.community_id == community_id, PersonTag.person_id == person_id, PersonTag.tag == tag
        )
    )


def _team(session: Session, community_id: int, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.community_id == community_id, Team.name == name.strip()))
    if team is None:
        raise NotFound("teams.no_team", team=name.strip()[:MAX_NAME])
    return team


def _in_team(session: Session, team_id: int, person_id: int) -> bool:
    return bool(
        session.scalar(select(TeamMember.id).where(TeamMember.team_id == team_id, TeamMember.person_id == person_id))
    )


def _team_view(session: Session, team: Team) -> TeamView:
    names = list(
        session.scalars(
            select(Person.display_name)
            .join(TeamMember, TeamMember.person_id == Person.id)
            .where(TeamMember.team_id == team.id)
            .order_by(TeamMember.id)
        )
    )
    leader = session.scalar(select(Person.display_name).where(Person.id == team.leader_id)) if team.leader_id else None
    return TeamView(team.id, team.name, leader, tuple(names))


# --- the monthly report -------------------------------------------------------------------------


def teams_tags_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Hours and points per team and per tag in the month (approved logs, by service date, as
    the volunteers sheet counts them). Workers read the report, so every tagged member counts."""
    team_rows = (
        session.execute(
            select(Team.name, func.count(func.distinct(TeamMember.person_id)))
            .join(TeamMember, TeamMember.team_id == Team.id, isouter=True)
            .where(Team.community_id == community_id)
            .group_by(Team.id, Team.name)
            .order_by(Team.id)
        )
    ).all()
    tag_rows = (
        session.execute(
            select(PersonTag.tag, func.count())
            .where(PersonTag.community_id == community_id)
            .group_by(PersonTag.tag)
            .order_by(PersonTag.tag)
        )
    ).all()
    if not team_rows and not tag_rows:
        return None
    # Each member's figures as the volunteers sheet counts them (points.earned), summed per row.
    month_earned = earned(session, community_id, month.last, month.first)
    team_sums: dict[str, tuple[int, int]] = {}
    for name, person_id in session.execute(
        select(Team.name, TeamMember.person_id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.community_id == community_id)
    ):
        e, (m, p) = month_earned.get(person_id, Earned()), team_sums.get(name, (0, 0))
        team_sums[name] = (m + e.minutes, p + e.points)
    tag_sums: dict[str, tuple[int, int]] = {}
    for tag, person_id in session.execute(
        select(PersonTag.tag, PersonTag.person_id).where(PersonTag.community_id == community_id)
    ):
        e, (m, p) = month_earned.get(person_id, Earned()), tag_sums.get(tag, (0, 0))
        tag_sums[tag] = (m + e.minutes, p + e.points)
    team_word, tag_word = render(locale, "section.groups.team"), render(locale, "section.groups.tag")
    rows = [
        (team_word, name, int(n), round(team_sums.get(name, (0, 0))[0] / 60, 2), team_sums.get(name, (0, 0))[1])
        for name, n in team_rows
    ]
    rows += [
        (tag_word, tag, int(n), round(tag_sums.get(tag, (0, 0))[0] / 60, 2), tag_sums.get(tag, (0, 0))[1])
        for tag, n in tag_rows
    ]
    columns = tuple(
        Column(render(locale, f"section.groups.{key}"), kind)
        for key, kind in (("kind", "text"), ("name", "text"), ("members", "int"), ("hours", "hours"), ("points", "int"))
    )
    return Sheet(
        "groups", render(locale, "section.groups.title"), columns, rows, notes=(render(locale, "section.groups.note"),)
    )
