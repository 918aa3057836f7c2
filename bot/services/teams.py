"""Member tags (党员, 青年, 以老助老 …) and volunteer teams (志愿服务队), and the star lists a
community publishes: the whole community (总榜), a tag's list or a team's list.

Tags are personal information: workers see them, a member sees their own, and a member is on a
tag's star list only after agreeing to be (`/privacy 党员 显示`). A team leader records hours for
the team's members; those wait for a worker like anyone's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import Database
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.i18n import render
from bot.services.access import get_community, get_person, require_role, role_in
from bot.services.audit import audit
from bot.services.hours import HoursService, LogView
from bot.services.notify import notify, notify_workers
from bot.services.reports import REPORT_SECTIONS, Column, ReportMonth, Sheet
from models import Person, PersonTag, ServiceLog, Team, TeamMember

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

async def find_group(session: AsyncSession, community_id: int, word: str) -> StarGroup | None:
    """What a list's name means in the community: 总榜, a team's name, or a tag someone has (or
    a default tag). A team wins over a tag of the same name."""
    word = word.strip()
    if word in WHOLE_WORDS or word.lower() in WHOLE_WORDS:
        return StarGroup("all", WHOLE)
    team = await session.scalar(select(Team).where(Team.community_id == community_id, Team.name == word))
    if team is not None:
        return StarGroup("team", team.name, team.id)
    if word in DEFAULT_TAGS or await session.scalar(
        select(PersonTag.id).where(PersonTag.community_id == community_id, PersonTag.tag == word).limit(1)
    ):
        return StarGroup("tag", word)
    return None


async def group_members(session: AsyncSession, community_id: int, group: StarGroup) -> set[int] | None:
    """Who may appear on the group's list; None for the whole community. A tag's list holds
    only those who agreed to be shown on it."""
    if group.kind == "all":
        return None
    if group.kind == "team":
        return set(await session.scalars(select(TeamMember.person_id).where(TeamMember.team_id == group.team_id)))
    return set(await session.scalars(select(PersonTag.person_id).where(
        PersonTag.community_id == community_id, PersonTag.tag == group.name, PersonTag.shown.is_(True))))


def chosen_lists(options: dict | None) -> list[str]:
    """The lists a community's weekly and monthly posts include, in order (from its options)."""
    return list((options or {}).get("star_lists") or [WHOLE])


# --- the service ---------------------------------------------------------------------------------

class TeamsService:
    def __init__(self, db: Database, clock: Clock, hours: HoursService) -> None:
        self.db, self.clock, self.hours = db, clock, hours

    # --- tags ---------------------------------------------------------------------------------

    async def tag(self, worker_id: int, community_id: int, person_id: int, tag: str) -> bool:
        tag = clean_name(tag)

        async def work(session: AsyncSession) -> bool:
            await require_role(session, worker_id, community_id, "worker")
            person = await _member(session, person_id, community_id)
            if await _person_tag(session, community_id, person_id, tag) is not None:
                return False
            session.add(PersonTag(community_id=community_id, person_id=person_id, tag=tag, shown=False,
                                  tagged_by_id=worker_id, created_at=self.clock.now()))
            await audit(session, self.clock, "tag.add", worker_id, community_id, "person", person_id, {"tag": tag})
            await notify(session, self.clock, person.id, "tags.you_were_tagged", tag=tag)
            return True

        return await self.db.transaction(work)

    async def untag(self, worker_id: int, community_id: int, person_id: int, tag: str) -> bool:
        tag = clean_name(tag)

        async def work(session: AsyncSession) -> bool:
            await require_role(session, worker_id, community_id, "worker")
            found = await _person_tag(session, community_id, person_id, tag)
            if found is None:
                return False
            await session.delete(found)
            await audit(session, self.clock, "tag.remove", worker_id, community_id, "person", person_id, {"tag": tag})
            return True

        return await self.db.transaction(work)

    async def tags_of(self, viewer_id: int, community_id: int, person_id: int) -> list[TagView]:
        """A member's tags: for themselves, or for a worker of the community."""
        async with self.db.read() as uow:
            if viewer_id != person_id:
                await require_role(uow.session, viewer_id, community_id, "worker")
            rows = await uow.session.execute(
                select(PersonTag.tag, PersonTag.shown)
                .where(PersonTag.community_id == community_id, PersonTag.person_id == person_id)
                .order_by(PersonTag.id))
            return [TagView(t, s) for t, s in rows]

    async def tag_counts(self, worker_id: int, community_id: int) -> list[TagCount]:
        """Every tag of the community with how many carry it and how many agreed to be shown;
        the default tags first, even when nobody carries them yet."""
        async with self.db.read() as uow:
            await require_role(uow.session, worker_id, community_id, "worker")
            rows = {t: (int(n), int(s or 0)) for t, n, s in await uow.session.execute(
                select(PersonTag.tag, func.count(), func.sum(case((PersonTag.shown.is_(True), 1), else_=0)))
                .where(PersonTag.community_id == community_id).group_by(PersonTag.tag))}
        names = [*DEFAULT_TAGS, *sorted(t for t in rows if t not in DEFAULT_TAGS)]
        return [TagCount(t, *rows.get(t, (0, 0))) for t in names]

    async def set_tag_shown(self, person_id: int, community_id: int, tag: str, shown: bool) -> bool:
        """The member's own choice: be on the tag's star list, or not. Returns whether it changed."""

        async def work(session: AsyncSession) -> bool:
            found = await _person_tag(session, community_id, person_id, tag.strip())
            if found is None:
                raise NotFound("tags.not_yours", tag=tag.strip()[:MAX_NAME])
            if found.shown == shown:
                return False
            found.shown = shown
            await audit(session, self.clock, "tag.shown" if shown else "tag.hidden", person_id, community_id,
                        "person", person_id, {"tag": found.tag})
            return True

        return await self.db.transaction(work)

    # --- teams --------------------------------------------------------------------------------

    async def create_team(self, worker_id: int, community_id: int, name: str) -> TeamView:
        name = clean_name(name)
        if name in WHOLE_WORDS:
            raise InvalidInput("teams.reserved", name=name)

        async def work(session: AsyncSession) -> TeamView:
            await require_role(session, worker_id, community_id, "worker")
            if await session.scalar(select(Team.id).where(Team.community_id == community_id, Team.name == name)):
                raise InvalidInput("teams.exists", team=name)
            team = Team(community_id=community_id, name=name, created_by_id=worker_id, created_at=self.clock.now())
            session.add(team)
            await session.flush()
            await audit(session, self.clock, "team.create", worker_id, community_id, "team", team.id, {"name": name})
            return await _team_view(session, team)

        return await self.db.transaction(work)

    async def change_members(self, worker_id: int, community_id: int, team_name: str, person_ids: list[int],
                             add: bool) -> tuple[TeamView, int]:
        """Add or remove members; returns the team and how many changed."""

        async def work(session: AsyncSession) -> tuple[TeamView, int]:
            await require_role(session, worker_id, community_id, "worker")
            team = await _team(session, community_id, team_name)
            changed = 0
            for person_id in dict.fromkeys(person_ids):
                if add:
                    await _member(session, person_id, community_id)
                    if not await _in_team(session, team.id, person_id):
                        session.add(TeamMember(team_id=team.id, person_id=person_id, added_at=self.clock.now()))
                        changed += 1
                else:
                    gone = await session.execute(delete(TeamMember).where(
                        TeamMember.team_id == team.id, TeamMember.person_id == person_id))
                    changed += gone.rowcount
                    if team.leader_id == person_id:
                        team.leader_id = None
            await session.flush()
            await audit(session, self.clock, "team.add" if add else "team.remove", worker_id, community_id,
                        "team", team.id, {"people": person_ids})
            return await _team_view(session, team), changed

        return await self.db.transaction(work)

    async def set_leader(self, worker_id: int, community_id: int, team_name: str, person_id: int) -> TeamView:
        """The leader is one of the team's members (added if not yet)."""

        async def work(session: AsyncSession) -> TeamView:
            await require_role(session, worker_id, community_id, "worker")
            team = await _team(session, community_id, team_name)
            await _member(session, person_id, community_id)
            if not await _in_team(session, team.id, person_id):
                session.add(TeamMember(team_id=team.id, person_id=person_id, added_at=self.clock.now()))
            team.leader_id = person_id
            await session.flush()
            await audit(session, self.clock, "team.leader", worker_id, community_id, "team", team.id, {"leader": person_id})
            await notify(session, self.clock, person_id, "teams.you_lead", team=team.name)
            return await _team_view(session, team)

        return await self.db.transaction(work)

    async def teams(self, viewer_id: int, community_id: int) -> list[TeamView]:
        async with self.db.read() as uow:
            await require_role(uow.session, viewer_id, community_id, "resident")
            teams = await uow.session.scalars(select(Team).where(Team.community_id == community_id).order_by(Team.id))
            return [await _team_view(uow.session, t) for t in teams]

    async def team(self, viewer_id: int, community_id: int, name: str) -> TeamView:
        async with self.db.read() as uow:
            await require_role(uow.session, viewer_id, community_id, "resident")
            return await _team_view(uow.session, await _team(uow.session, community_id, name))

    async def record_for_team(
        self, leader_id: int, community_id: int, team_name: str, person_ids: list[int] | None, *,
        category_id: int, service_date: date, minutes: int, request_key: str | None,
    ) -> list[LogView]:
        """The team's leader records an event's hours for members of the team (None: all of
        them). The logs wait for a worker's approval like the members' own."""

        async def work(session: AsyncSession) -> list[LogView]:
            team = await _team(session, community_id, team_name)
            if team.leader_id != leader_id:
                raise NotAllowed("teams.not_leader", team=team.name)
            members = list(await session.scalars(
                select(TeamMember.person_id).where(TeamMember.team_id == team.id).order_by(TeamMember.id)))
            chosen = members if person_ids is None else list(dict.fromkeys(person_ids))
            if not chosen:
                raise InvalidInput("error.no_volunteers")
            strangers = [p for p in chosen if p not in members]
            if strangers:
                raise NotAllowed("teams.not_member", person=(await get_person(session, strangers[0])).display_name,
                                 team=team.name)
            logs, new = [], False
            for i, person_id in enumerate(chosen):
                log, created = await self.hours.add_pending(
                    session, person_id, community_id, category_id=category_id, service_date=service_date,
                    minutes=minutes, submitted_by=leader_id, event_name=team.name,
                    request_key=f"{request_key}:{i}" if request_key else None)
                logs.append(log)
                new = new or created
            if new:
                await notify_workers(session, self.clock, community_id, "notify.pending_logs", coalesce="pending_logs")
            return logs

        return await self.db.transaction(work)

    # --- which lists the posts include --------------------------------------------------------

    async def set_star_lists(self, worker_id: int, community_id: int, words: list[str]) -> list[str]:
        if not words:
            raise InvalidInput("starlists.usage")

        async def work(session: AsyncSession) -> list[str]:
            await require_role(session, worker_id, community_id, "worker")
            names = []
            for word in dict.fromkeys(words):
                group = await find_group(session, community_id, word)
                if group is None:
                    raise NotFound("starlists.unknown", name=word[:MAX_NAME])
                if group.name not in names:
                    names.append(group.name)
            community = await get_community(session, community_id)
            community.options = {**(community.options or {}), "star_lists": names}
            await audit(session, self.clock, "starlists.set", worker_id, community_id, details={"lists": names})
            return names

        return await self.db.transaction(work)

    async def star_lists(self, viewer_id: int, community_id: int) -> tuple[list[str], list[str]]:
        """The chosen lists, and every list the community could choose."""
        async with self.db.read() as uow:
            session = uow.session
            await require_role(session, viewer_id, community_id, "worker")
            community = await get_community(session, community_id)
            teams = list(await session.scalars(select(Team.name).where(Team.community_id == community_id).order_by(Team.id)))
            tags = set(await session.scalars(select(PersonTag.tag).where(PersonTag.community_id == community_id)))
        available = [WHOLE, *teams, *DEFAULT_TAGS, *sorted(tags - set(DEFAULT_TAGS) - set(teams))]
        return chosen_lists(community.options), list(dict.fromkeys(available))


async def _member(session: AsyncSession, person_id: int, community_id: int) -> Person:
    person = await get_person(session, person_id)
    if await role_in(session, person_id, community_id) is None:
        raise NotFound("teams.not_in_community", person=person.display_name)
    return person


async def _person_tag(session: AsyncSession, community_id: int, person_id: int, tag: str) -> PersonTag | None:
    return await session.scalar(select(PersonTag).where(
        PersonTag.community_id == community_id, PersonTag.person_id == person_id, PersonTag.tag == tag))


async def _team(session: AsyncSession, community_id: int, name: str) -> Team:
    team = await session.scalar(select(Team).where(Team.community_id == community_id, Team.name == name.strip()))
    if team is None:
        raise NotFound("teams.no_team", team=name.strip()[:MAX_NAME])
    return team


async def _in_team(session: AsyncSession, team_id: int, person_id: int) -> bool:
    return bool(await session.scalar(select(TeamMember.id).where(
        TeamMember.team_id == team_id, TeamMember.person_id == person_id)))


async def _team_view(session: AsyncSession, team: Team) -> TeamView:
    names = list(await session.scalars(
        select(Person.display_name).join(TeamMember, TeamMember.person_id == Person.id)
        .where(TeamMember.team_id == team.id).order_by(TeamMember.id)))
    leader = await session.scalar(select(Person.display_name).where(Person.id == team.leader_id)) if team.leader_id else None
    return TeamView(team.id, team.name, leader, tuple(names))


# --- the monthly report -------------------------------------------------------------------------

async def teams_tags_section(session: AsyncSession, community_id: int, month: ReportMonth, locale: str) -> Sheet | None:
    """Hours and points per team and per tag in the month (approved logs, by service date, as
    the volunteers sheet counts them). Workers read the report, so every tagged member counts."""
    in_month = (ServiceLog.community_id == community_id, ServiceLog.status == "approved",
                ServiceLog.service_date >= month.first, ServiceLog.service_date <= month.last)
    team_rows = (await session.execute(
        select(Team.name, func.count(func.distinct(TeamMember.person_id)))
        .join(TeamMember, TeamMember.team_id == Team.id, isouter=True)
        .where(Team.community_id == community_id).group_by(Team.id, Team.name).order_by(Team.id)
    )).all()
    tag_rows = (await session.execute(
        select(PersonTag.tag, func.count()).where(PersonTag.community_id == community_id)
        .group_by(PersonTag.tag).order_by(PersonTag.tag)
    )).all()
    if not team_rows and not tag_rows:
        return None
    team_sums = {name: (int(m or 0), int(p or 0)) for name, m, p in await session.execute(
        select(Team.name, func.sum(ServiceLog.minutes), func.sum(ServiceLog.points))
        .join(TeamMember, TeamMember.team_id == Team.id).join(ServiceLog, ServiceLog.person_id == TeamMember.person_id)
        .where(Team.community_id == community_id, *in_month).group_by(Team.name))}
    tag_sums = {tag: (int(m or 0), int(p or 0)) for tag, m, p in await session.execute(
        select(PersonTag.tag, func.sum(ServiceLog.minutes), func.sum(ServiceLog.points))
        .join(ServiceLog, ServiceLog.person_id == PersonTag.person_id)
        .where(PersonTag.community_id == community_id, *in_month).group_by(PersonTag.tag))}
    team_word, tag_word = render(locale, "section.groups.team"), render(locale, "section.groups.tag")
    rows = [(team_word, name, int(n), round(team_sums.get(name, (0, 0))[0] / 60, 2), team_sums.get(name, (0, 0))[1])
            for name, n in team_rows]
    rows += [(tag_word, tag, int(n), round(tag_sums.get(tag, (0, 0))[0] / 60, 2), tag_sums.get(tag, (0, 0))[1])
             for tag, n in tag_rows]
    columns = tuple(Column(render(locale, f"section.groups.{key}"), kind) for key, kind in (
        ("kind", "text"), ("name", "text"), ("members", "int"), ("hours", "hours"), ("points", "int")))
    return Sheet("groups", render(locale, "section.groups.title"), columns, rows,
                 notes=(render(locale, "section.groups.note"),))


REPORT_SECTIONS.append(teams_tags_section)
