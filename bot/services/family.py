"""Family accounts (亲情账户): links between a member and their relatives, and acting for a
relative (`/as NAME`). Who may act for a relative is decided in one place, `may_act_for`: a
member linked to them, or a worker of the relative's community."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Database, reads
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services.access import get_person, require_role, role_in
from bot.services.audit import audit
from bot.services.ledger import Ledger
from bot.services.notify import notify
from bot.services.people import clean_name, new_code
from models import ActingFor, FamilyLink, Membership, Person

MAX_LINKS = 10  # relatives a member may have at once; more is a mistake or abuse


@dataclass(frozen=True)
class LinkView:
    id: int
    member_id: int
    member_name: str
    relative_id: int
    relative_name: str


@dataclass(frozen=True)
class Relative:
    """Who the dialog acts for while a member acts for a relative."""

    person_id: int
    display_name: str
    community_id: int | None
    role: str | None


def may_act_for(session: Session, actor_id: int, relative_id: int) -> bool:
    """The one rule: a member linked to the relative, or a worker of the relative's community."""
    if actor_id == relative_id:
        return False
    if _active_link(session, actor_id, relative_id) is not None:
        return True
    relative = session.get(Person, relative_id)
    if relative is None or relative.community_id is None:
        return False
    return role_in(session, actor_id, relative.community_id) == "worker"


def linked(session: Session, a: int, b: int) -> bool:
    """Whether two people are family, in either direction (a gift may go either way)."""
    return _active_link(session, a, b) is not None or _active_link(session, b, a) is not None


def members_of(session: Session, relative_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Who acts for each relative through a link, with the relative's name: they are told what
    the relative is told about their points, as a relative without a phone hears nothing."""
    found: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(relative_ids), 500):  # bounded IN lists
        rows = session.execute(
            select(FamilyLink.relative_id, FamilyLink.member_id, Person.display_name)
            .join(Person, Person.id == FamilyLink.relative_id)
            .where(FamilyLink.relative_id.in_(relative_ids[start:start + 500]), FamilyLink.status == "active")
            .order_by(FamilyLink.relative_id, FamilyLink.member_id)
        )
        for relative_id, member_id, name in rows:
            found.setdefault(relative_id, []).append((member_id, name))
    return found


def _active_link(session: Session, member_id: int, relative_id: int) -> int | None:
    return session.scalar(select(FamilyLink.id).where(
        FamilyLink.member_id == member_id, FamilyLink.relative_id == relative_id, FamilyLink.status == "active"
    ).limit(1))


class FamilyService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db, self.clock, self.ledger = db, clock, ledger

    # --- linking ----------------------------------------------------------------------------

    def offer(self, member_id: int) -> str:
        """A one-time code the relative accepts in their own chat (their consent)."""

        def work(session: Session) -> str:
            self._room_for_one_more(session, member_id)
            code = new_code()
            session.add(FamilyLink(member_id=member_id, status="pending", code=code, created_at=self.clock.now()))
            audit(session, self.clock, "kin.offer", member_id, subject_type="person", subject_id=member_id)
            return code

        return self.db.transaction(work)

    def accept(self, relative_id: int, code: str) -> LinkView:
        code = (code or "").strip().upper()

        def work(session: Session) -> LinkView:
            link = session.scalar(select(FamilyLink).where(FamilyLink.code == code))
            if link is None or link.status != "pending":
                raise NotFound("error.bad_family_code")
            if link.member_id == relative_id:
                raise InvalidInput("error.family_self")
            if _active_link(session, link.member_id, relative_id) is not None:
                raise InvalidInput("error.family_exists")
            # The guarded claim: two people typing the same code, one wins.
            claimed = session.execute(
                update(FamilyLink).where(FamilyLink.id == link.id, FamilyLink.status == "pending")
                .values(status="active", relative_id=relative_id, code=None, decided_at=self.clock.now())
            )
            if claimed.rowcount != 1:
                raise NotFound("error.bad_family_code")
            relative = get_person(session, relative_id)
            audit(session, self.clock, "kin.link", relative_id, relative.community_id, "person",
                        link.member_id, {"link": link.id, "relative": relative_id, "by": "consent"})
            notify(session, self.clock, link.member_id, "family.notify.accepted", name=relative.display_name)
            return _view(session, link.id)

        return self.db.transaction(work)

    def link(
        self, worker_id: int, community_id: int, member_id: int, relative_id: int | None, new_name: str | None = None
    ) -> LinkView:
        """A worker links a member to a relative of their community who has no phone: someone
        on the books, or (with `new_name`) a resident the worker registers now."""

        def work(session: Session) -> LinkView:
            require_role(session, worker_id, community_id, "worker")
            now = self.clock.now()
            rid = relative_id
            if rid is None:
                person = Person(display_name=clean_name(new_name or ""), locale="zh-CN", community_id=community_id,
                                created_at=now)
                session.add(person)
                session.flush()
                session.add(Membership(person_id=person.id, community_id=community_id, role="resident",
                                       confirmed=True, joined_at=now))
                session.flush()
                self.ledger.open_person_account(session, community_id, person.id)
                audit(session, self.clock, "kin.register", worker_id, community_id, "person", person.id)
                rid = person.id
            elif role_in(session, rid, community_id) is None:
                raise NotAllowed("error.family_not_in_community")
            if rid == member_id:
                raise InvalidInput("error.family_self")
            if _active_link(session, member_id, rid) is not None:
                raise InvalidInput("error.family_exists")
            self._room_for_one_more(session, member_id)
            link = FamilyLink(member_id=member_id, relative_id=rid, status="active", confirmed_by_id=worker_id,
                              created_at=now, decided_at=now)
            session.add(link)
            session.flush()
            audit(session, self.clock, "kin.link", worker_id, community_id, "person", member_id,
                        {"link": link.id, "relative": rid, "by": "worker"})
            view = _view(session, link.id)
            notify(session, self.clock, member_id, "family.notify.linked", name=view.relative_name)
            return view

        return self.db.transaction(work)

    def remove(self, actor_id: int, link_id: int) -> LinkView:
        """Either side of the link, or a worker of the relative's community, may end it."""

        def work(session: Session) -> LinkView:
            link = session.get(FamilyLink, link_id)
            if link is None or link.status != "active" or link.relative_id is None:
                raise NotFound("error.no_family_link")
            if actor_id not in (link.member_id, link.relative_id) and not may_act_for(
                session, actor_id, link.relative_id
            ):
                raise NotAllowed("error.not_family")
            view = _view(session, link.id)
            claimed = session.execute(
                update(FamilyLink).where(FamilyLink.id == link_id, FamilyLink.status == "active")
                .values(status="removed", decided_at=self.clock.now())
            )
            if claimed.rowcount != 1:
                raise NotFound("error.no_family_link")
            # Whoever acted for the relative through this link stops now.
            session.execute(delete(ActingFor).where(
                ActingFor.person_id == link.member_id, ActingFor.relative_id == link.relative_id
            ))
            relative = get_person(session, link.relative_id)
            audit(session, self.clock, "kin.unlink", actor_id, relative.community_id, "person",
                        link.member_id, {"link": link.id, "relative": link.relative_id})
            for other in {link.member_id, link.relative_id} - {actor_id}:
                notify(session, self.clock, other, "family.notify.removed",
                             name=view.relative_name if other == link.member_id else view.member_name)
            return view

        return self.db.transaction(work)

    @reads
    def links(self, person_id: int) -> list[LinkView]:
        """The person's links, as the member and as the relative."""
        with self.db.read() as session:
            ids = session.scalars(select(FamilyLink.id).where(
                FamilyLink.status == "active", or_(FamilyLink.member_id == person_id, FamilyLink.relative_id == person_id)
            ).order_by(FamilyLink.id))
            return [_view(session, i) for i in ids]

    def _room_for_one_more(self, session: Session, member_id: int) -> None:
        count = len(list(session.scalars(select(FamilyLink.id).where(
            FamilyLink.member_id == member_id, FamilyLink.status.in_(("pending", "active"))
        ))))
        if count >= MAX_LINKS:
            raise InvalidInput("error.family_too_many", most=MAX_LINKS)

    # --- acting for a relative ---------------------------------------------------------------

    @reads
    def linked_relative(self, person_id: int, name: str, *, either_way: bool = False) -> int | None:
        """The relative `name` (the name shown, the real name, or `#12`) among the person's links;
        `either_way` also finds the members linked to the person (family for a gift)."""
        name = name.strip()
        which = Person.id == int(name[1:]) if re.fullmatch(r"#\d{1,9}", name) else or_(
            Person.display_name == name, Person.real_name == name)
        relative = and_(FamilyLink.member_id == person_id, FamilyLink.relative_id == Person.id)
        member = and_(FamilyLink.relative_id == person_id, FamilyLink.member_id == Person.id)
        with self.db.read() as session:
            return session.scalar(
                select(Person.id).join(FamilyLink, or_(relative, member) if either_way else relative)
                .where(FamilyLink.status == "active", which)
                .order_by(Person.id).limit(1)
            )

    def act_as(self, person_id: int, relative_id: int) -> Relative:
        def work(session: Session) -> Relative:
            if not may_act_for(session, person_id, relative_id):
                raise NotAllowed("error.not_family")
            relative = get_person(session, relative_id)
            session.execute(delete(ActingFor).where(ActingFor.person_id == person_id))
            session.add(ActingFor(person_id=person_id, relative_id=relative_id, since=self.clock.now()))
            audit(session, self.clock, "kin.act_as", person_id, relative.community_id, "person", relative_id)
            return _relative(session, relative)

        return self.db.transaction(work)

    def act_as_self(self, person_id: int) -> bool:
        """Back to acting for oneself; False when one was not acting for anybody."""

        def work(session: Session) -> bool:
            gone = session.execute(delete(ActingFor).where(ActingFor.person_id == person_id))
            return gone.rowcount > 0

        return self.db.transaction(work)

    def acting_for(self, session: Session, person_id: int, relative_id: int) -> Relative | None:
        """The relative the dialog acts for, re-checked on every turn: a removed link or a
        worker who left the community ends it at once."""
        if not may_act_for(session, person_id, relative_id):
            return None
        return _relative(session, get_person(session, relative_id))


def _relative(session: Session, relative: Person) -> Relative:
    role = None if relative.community_id is None else role_in(session, relative.id, relative.community_id)
    return Relative(relative.id, relative.display_name, relative.community_id, role)


def _view(session: Session, link_id: int) -> LinkView:
    member, relative = Person.__table__.alias("member"), Person.__table__.alias("relative")
    row = (session.execute(
        select(FamilyLink.id, FamilyLink.member_id, member.c.display_name, FamilyLink.relative_id,
               relative.c.display_name)
        .join(member, member.c.id == FamilyLink.member_id)
        .outerjoin(relative, relative.c.id == FamilyLink.relative_id)
        .where(FamilyLink.id == link_id)
    )).first()
    if row is None:
        raise NotFound("error.no_family_link")
    return LinkView(row[0], row[1], row[2], row[3], row[4] or "")

