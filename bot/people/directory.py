"""The community's people as a worker looks them up (the desk's People page): volunteers and
residents with their role, tags, teams, service hours this month and in all, and star level;
searched by name, handle or the tail of a phone number, a page at a time; and one person's card
with their service history. For the community's workers and the admins. Hours and levels are
bot.hours.service_hours' and bot.stars.levels' own sums: the numbers the chat shows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select, union
from sqlalchemy.orm import Session

from bot.hours import service_hours
from bot.hours.service import HoursService, LogView
from bot.kernel.access import effective_role, get_community, require_role
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads
from bot.kernel.errors import NotFound
from bot.stars.levels import level_of, thresholds
from models import Identity, Membership, Person, PersonTag, ServiceLog, Team, TeamMember

PAGE = 50  # people on a page
QUERY_MAX = 40
PHONE_TAIL_MIN = 3  # digits: fewer would match half the community
ROLES = ("volunteer", "resident", "worker")
LAST = "\U0010ffff"  # sorts after every character: text < text + LAST bounds what starts with text


@dataclass(frozen=True)
class PersonRow:
    person_id: int
    name: str
    real_name: str | None
    handle: str | None
    phone_tail: str | None  # the last four digits: enough to tell two people apart
    role: str | None  # as the chat counts it (an unconfirmed volunteer is a resident)
    awaiting: bool  # a volunteer not yet confirmed by a worker
    tags: tuple[str, ...]
    teams: tuple[str, ...]
    minutes_month: int
    minutes_total: int
    level: int

    @property
    def ref(self) -> str:
        return f"#{self.person_id}"


@dataclass(frozen=True)
class PeoplePage:
    rows: list[PersonRow]
    page: int  # from 1
    more: bool


@dataclass(frozen=True)
class PersonCard:
    row: PersonRow
    phone: str | None
    joined_at: datetime
    logs: list[LogView]  # the newest service logs
    more_logs: bool


def _prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Directory:
    def __init__(self, db: Database, clock: Clock, hours: HoursService) -> None:
        self.db, self.clock, self.hours = db, clock, hours

    @reads
    def search(
        self, viewer_id: int, community_id: int, query: str = "", role: str | None = None, page: int = 1
    ) -> PeoplePage:
        """Members of the community whose shown name, real name or handle begins with the query,
        or whose phone ends with it (digits), in the order of their names, a page at a time;
        only the page's people are read in full."""
        query = " ".join(query.split())[:QUERY_MAX]
        page = max(1, page)
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "worker")
            stmt = (
                select(Person.id)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.community_id == community_id, Person.forgotten_at.is_(None))
            )
            if role in ROLES:  # as recorded: a volunteer waiting to be confirmed is listed as one
                stmt = stmt.where(Membership.role == role)
            if query:
                stmt = stmt.where(self._matching(query))
            ids = list(
                session.scalars(stmt.order_by(Person.display_name, Person.id).offset((page - 1) * PAGE).limit(PAGE + 1))
            )
            rows = self._rows(session, community_id, ids[:PAGE])
            return PeoplePage(rows, page, len(ids) > PAGE)

    @staticmethod
    def _matching(query: str) -> Any:
        """Who the query means: the tail of a phone (digits only), else the beginning of a shown
        name, a real name or a handle; each name is one range of its index (the LIKE after the
        range only re-checks it), the three joined by UNION so each keeps its index."""
        digits = query.replace(" ", "").lstrip("+")
        if digits.isdecimal() and len(digits) >= PHONE_TAIL_MIN:
            return Person.phone.like("%" + digits)
        text = query.lstrip("@")

        def starting(column: Any) -> Any:
            return and_(column >= text, column < text + LAST, column.like(_prefix(text), escape="\\"))

        found = union(
            select(Person.id).where(starting(Person.display_name)),
            select(Person.id).where(starting(Person.real_name)),
            select(Identity.person_id).where(starting(Identity.handle)),
        )
        return Person.id.in_(found)

    @reads
    def card(self, viewer_id: int, community_id: int, person_id: int, logs: int = 20) -> PersonCard:
        """One member of the community (NotFound for anyone else, as for no one)."""
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "worker")
            found = session.execute(
                select(Person.phone, Membership.joined_at)
                .join(Membership, Membership.person_id == Person.id)
                .where(Person.id == person_id, Membership.community_id == community_id, Person.forgotten_at.is_(None))
            ).first()
            if found is None:
                raise NotFound("error.no_person")
            rows = self._rows(session, community_id, [person_id])
            history = self.hours.logs_of(person_id, community_id, limit=logs + 1)
            return PersonCard(rows[0], found[0], found[1], history[:logs], len(history) > logs)

    def _rows(self, session: Session, community_id: int, ids: list[int]) -> list[PersonRow]:
        if not ids:
            return []
        community = get_community(session, community_id)
        month = self.clock.community(community.timezone).month()
        people = {
            r.id: r
            for r in session.execute(
                select(
                    Person.id,
                    Person.display_name,
                    Person.real_name,
                    Person.phone,
                    Membership.role,
                    Membership.confirmed,
                )
                .join(Membership, and_(Membership.person_id == Person.id, Membership.community_id == community_id))
                .where(Person.id.in_(ids))
            )
        }
        handles: dict[int, str] = {}
        for pid, handle in session.execute(
            select(Identity.person_id, func.min(Identity.handle))
            .where(Identity.person_id.in_(ids), Identity.handle.is_not(None))
            .group_by(Identity.person_id)
        ):
            if handle:
                handles[pid] = handle
        tags: dict[int, list[str]] = defaultdict(list)
        for pid, tag in session.execute(
            select(PersonTag.person_id, PersonTag.tag)
            .where(PersonTag.person_id.in_(ids), PersonTag.community_id == community_id)
            .order_by(PersonTag.tag)
        ):
            tags[pid].append(tag)
        teams: dict[int, list[str]] = defaultdict(list)
        for pid, name in session.execute(
            select(TeamMember.person_id, Team.name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.person_id.in_(ids), Team.community_id == community_id)
            .order_by(Team.name)
        ):
            teams[pid].append(name)
        total = service_hours.totals(session, set(ids), community_id)
        this_month = _minutes(session, ids, community_id, month.first, month.last)
        hours_ = thresholds(community)
        out = []
        for pid in ids:
            p = people.get(pid)
            if p is None:
                continue
            role = effective_role(p.role, p.confirmed)
            out.append(
                PersonRow(
                    pid,
                    p.display_name,
                    p.real_name,
                    handles.get(pid),
                    p.phone[-4:] if p.phone else None,
                    role,
                    p.role == "volunteer" and not p.confirmed,
                    tuple(tags[pid]),
                    tuple(teams[pid]),
                    this_month.get(pid, 0),
                    total.get(pid, 0),
                    level_of(total.get(pid, 0), hours_),
                )
            )
        return out


def _minutes(session: Session, ids: list[int], community_id: int, start: date, end: date) -> dict[int, int]:
    """Service minutes of several people between two service dates, in one query."""
    rows = session.execute(
        select(ServiceLog.person_id, func.sum(ServiceLog.minutes))
        .where(ServiceLog.person_id.in_(ids), *service_hours.counted(community_id, start, end))
        .group_by(ServiceLog.person_id)
    )
    return {int(p): int(m or 0) for p, m in rows}
