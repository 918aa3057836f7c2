"""Family accounts (亲情账户): links between a member and their relatives, and acting for a
relative (`/as NAME`). Who may act for a relative is decided in one place, `proxy_role`: family
linked with the relative's consent, or a worker of the relative's community for someone without
a chat of their own; whoever acts, the relative and their family are told (`tell_of_proxy`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.kernel.access import get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import AlreadyDecided, InvalidInput, NotAllowed, NotFound
from bot.kernel.guesses import Guesses
from bot.kernel.names import clean_name, new_code
from bot.ledger.service import Ledger
from bot.messages.notify import notify, notify_workers
from models import ActingFor, Elder, FamilyLink, Identity, Membership, Person

MAX_LINKS = 10  # relatives a member may have at once; more is a mistake or abuse
CODE_LIFETIME = timedelta(hours=48)  # a /family add code not accepted by then is void
CODE_GUESSES = Guesses("kin.wrong_code", "error.family_code_locked", "error.bad_family_code_left")


@dataclass(frozen=True)
class LinkView:
    id: int
    member_id: int
    member_name: str
    relative_id: int
    relative_name: str
    status: str = "active"


@dataclass(frozen=True)
class Relative:
    """Who the dialog acts for while a member acts for a relative."""

    person_id: int
    display_name: str
    community_id: int | None
    role: str | None


def has_own_chat(session: Session, person_id: int) -> bool:
    """Whether the person talks to the bot themselves (any channel identity): then only they,
    or family they accepted, act for them."""
    return session.scalar(select(Identity.id).where(Identity.person_id == person_id).limit(1)) is not None


def proxy_role(session: Session, actor_id: int, relative_id: int) -> str | None:
    """The one rule of who may act for whom, and as what. "family": a member linked to the
    relative by the relative's own consent (a code they accepted), or by a worker's
    confirmation for a relative with no chat of their own. "worker": a worker of the relative's
    community, for someone with no chat of their own (registered by a worker, an elder on the
    roster); what a worker spends for them waits for a second worker. None: nobody else."""
    if actor_id == relative_id:
        return None
    own_chat = has_own_chat(session, relative_id)
    link = session.execute(
        select(FamilyLink.confirmed_by_id)
        .where(FamilyLink.member_id == actor_id, FamilyLink.relative_id == relative_id, FamilyLink.status == "active")
        .limit(1)
    ).first()
    if link is not None and (link.confirmed_by_id is None or not own_chat):
        return "family"
    relative = session.get(Person, relative_id)
    if own_chat or relative is None or relative.community_id is None:
        return None
    return "worker" if role_in(session, actor_id, relative.community_id) == "worker" else None


def may_act_for(session: Session, actor_id: int, relative_id: int) -> bool:
    return proxy_role(session, actor_id, relative_id) is not None


def why_not(session: Session, actor_id: int, relative_id: int) -> NotAllowed:
    """The refusal for someone who may not act for `relative_id`: a worker is told the person
    has a chat of their own (they act themselves, or accept family)."""
    relative = session.get(Person, relative_id)
    if (
        relative is not None
        and relative.community_id is not None
        and has_own_chat(session, relative_id)
        and (role_in(session, actor_id, relative.community_id) == "worker")
    ):
        return NotAllowed("error.proxy_own_chat", name=relative.display_name)
    return NotAllowed("error.not_family")


def tell_of_proxy(
    session: Session,
    clock: Clock,
    action: str,
    actor_id: int,
    relative_id: int,
    community_id: int | None,
    subject: tuple[str, int] | None = None,
    **params: Any,
) -> None:
    """An action taken for someone: audited with both people, and told to the person (kept for
    when they can be reached) and to the family linked to them, with who took it."""
    actor, relative = get_person(session, actor_id), get_person(session, relative_id)
    kind, ref = subject or ("person", relative_id)
    audit(
        session,
        clock,
        f"proxy.{action}",
        actor_id,
        community_id,
        kind,
        ref,
        {"for": relative_id, "by": actor_id, **params},
    )
    family = [member for member, _ in members_of(session, [relative_id]).get(relative_id, [])]
    for person_id in dict.fromkeys([relative_id, *family]):
        if person_id != actor_id:
            notify(
                session,
                clock,
                person_id,
                f"family.proxy.{action}",
                by=actor.display_name,
                name=relative.display_name,
                **params,
            )


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
            .where(FamilyLink.relative_id.in_(relative_ids[start : start + 500]), FamilyLink.status == "active")
            .order_by(FamilyLink.relative_id, FamilyLink.member_id)
        )
        for relative_id, member_id, name in rows:
            assert relative_id is not None  # the IN list above matched it
            found.setdefault(relative_id, []).append((member_id, name))
    return found


def _active_link(session: Session, member_id: int, relative_id: int) -> int | None:
    return session.scalar(
        select(FamilyLink.id)
        .where(FamilyLink.member_id == member_id, FamilyLink.relative_id == relative_id, FamilyLink.status == "active")
        .limit(1)
    )


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
        with self.db.read() as session:
            CODE_GUESSES.check(session, self.clock, relative_id)

        def work(session: Session) -> LinkView:
            link = session.scalar(select(FamilyLink).where(FamilyLink.code == code))
            if link is None or link.status != "pending" or link.created_at < self.clock.now() - CODE_LIFETIME:
                raise NotFound("error.bad_family_code")
            if link.member_id == relative_id:
                raise InvalidInput("error.family_self")
            if _active_link(session, link.member_id, relative_id) is not None:
                raise InvalidInput("error.family_exists")
            # The guarded claim: two people typing the same code, one wins.
            claimed = session.execute(
                update(FamilyLink)
                .where(FamilyLink.id == link.id, FamilyLink.status == "pending")
                .values(status="active", relative_id=relative_id, code=None, decided_at=self.clock.now())
            )
            if rowcount(claimed) != 1:
                raise NotFound("error.bad_family_code")
            relative = get_person(session, relative_id)
            audit(
                session,
                self.clock,
                "kin.link",
                relative_id,
                relative.community_id,
                "person",
                link.member_id,
                {"link": link.id, "relative": relative_id, "by": "consent"},
            )
            notify(session, self.clock, link.member_id, "family.notify.accepted", name=relative.display_name)
            return _view(session, link.id)

        try:
            return self.db.transaction(work)
        except NotFound as exc:
            if exc.key != "error.bad_family_code":
                raise
            raise CODE_GUESSES.wrong(self.db, self.clock, relative_id, code) from None

    def link(
        self,
        worker_id: int,
        community_id: int,
        member_id: int,
        relative_id: int | None,
        new_name: str | None = None,
        *,
        elder_id: int | None = None,
    ) -> LinkView:
        """A worker links a member to a relative of their community who has no chat of their own:
        someone on the books, an elder on the roster (`elder_id`, who becomes a member the first
        time), or (with `new_name`) a resident the worker registers now. A relative with a chat
        of their own accepts a code instead. A worker linking themselves waits for another
        worker's approval; a link whose member is a worker lasts only as long as that role."""

        def work(session: Session) -> LinkView:
            require_role(session, worker_id, community_id, "worker")
            now = self.clock.now()
            rid = relative_id
            if elder_id is not None:
                rid = self._elder_member(session, worker_id, community_id, elder_id)
            elif rid is None:
                rid = self._register(session, worker_id, community_id, new_name or "")
            elif role_in(session, rid, community_id) is None:
                raise NotAllowed("error.family_not_in_community")
            elif has_own_chat(session, rid):
                raise InvalidInput("error.family_has_chat", name=get_person(session, rid).display_name)
            if rid == member_id:
                raise InvalidInput("error.family_self")
            if (
                session.scalar(
                    select(FamilyLink.id)
                    .where(
                        FamilyLink.member_id == member_id,
                        FamilyLink.relative_id == rid,
                        FamilyLink.status.in_(("approval", "active")),
                    )
                    .limit(1)
                )
                is not None
            ):
                raise InvalidInput("error.family_exists")
            self._room_for_one_more(session, member_id)
            own = member_id == worker_id
            link = FamilyLink(
                member_id=member_id,
                relative_id=rid,
                status="approval" if own else "active",
                confirmed_by_id=None if own else worker_id,
                created_at=now,
                decided_at=None if own else now,
                role_community_id=community_id if role_in(session, member_id, community_id) == "worker" else None,
            )
            session.add(link)
            session.flush()
            view = _view(session, link.id)
            if own:  # four eyes: another worker of the community approves (/approve L5)
                audit(
                    session,
                    self.clock,
                    "kin.self_link",
                    worker_id,
                    community_id,
                    "person",
                    member_id,
                    {"link": link.id, "relative": rid},
                )
                notify_workers(
                    session,
                    self.clock,
                    community_id,
                    "family.notify.self_link",
                    exclude=worker_id,
                    id=f"L{link.id}",
                    member=view.member_name,
                    relative=view.relative_name,
                )
                return view
            audit(
                session,
                self.clock,
                "kin.link",
                worker_id,
                community_id,
                "person",
                member_id,
                {"link": link.id, "relative": rid, "by": "worker"},
            )
            self._tell_linked(session, view)
            return view

        return self.db.transaction(work)

    def _register(
        self, session: Session, worker_id: int, community_id: int, name: str, *, grid_id: int | None = None
    ) -> int:
        """A resident without a chat of their own, registered by a worker; an elder of the
        roster in their grid (`grid_id`), so the grid's coordinator manages them."""
        now = self.clock.now()
        person = Person(display_name=clean_name(name), locale="zh-CN", community_id=community_id, created_at=now)
        session.add(person)
        session.flush()
        session.add(
            Membership(
                person_id=person.id,
                community_id=community_id,
                role="resident",
                confirmed=True,
                joined_at=now,
                grid_id=grid_id,
            )
        )
        session.flush()
        self.ledger.open_person_account(session, community_id, person.id)
        audit(session, self.clock, "kin.register", worker_id, community_id, "person", person.id)
        return person.id

    def elder_member(self, worker_id: int, community_id: int, elder_id: int) -> int:
        """The member an elder of the roster is (registered now if needed), for a worker of the
        elder's community to ask services for them."""

        def work(session: Session) -> int:
            require_role(session, worker_id, community_id, "worker")
            return self._elder_member(session, worker_id, community_id, elder_id)

        return self.db.transaction(work)

    def _elder_member(self, session: Session, worker_id: int, community_id: int, elder_id: int) -> int:
        """The member an elder of the roster is: registered the first time family is linked."""
        elder = session.get(Elder, elder_id, with_for_update=True)
        if elder is None or elder.community_id != community_id or not elder.active:
            raise NotFound("visits.error.no_elder", ref=f"E{elder_id}")
        if elder.person_id is None:
            elder.person_id = self._register(session, worker_id, community_id, elder.name, grid_id=elder.grid_id)
            session.flush()
        return elder.person_id

    def _tell_linked(self, session: Session, view: LinkView) -> None:
        """Both sides hear of a new link (the relative's notice waits if they have no chat), and
        so does the family already linked to the relative: a new proxy is never a quiet one."""
        notify(session, self.clock, view.member_id, "family.notify.linked", name=view.relative_name)
        notify(session, self.clock, view.relative_id, "family.notify.linked_relative", name=view.member_name)
        for member_id, _ in members_of(session, [view.relative_id]).get(view.relative_id, []):
            if member_id != view.member_id:
                notify(
                    session,
                    self.clock,
                    member_id,
                    "family.notify.new_family",
                    name=view.member_name,
                    relative=view.relative_name,
                )

    def decide_link(self, worker_id: int, link_id: int, approve: bool, reason: str = "") -> LinkView:
        """Another worker of the community approves (or refuses) a worker's own family link."""

        def work(session: Session) -> LinkView:
            link = session.get(FamilyLink, link_id)
            if link is None or link.role_community_id is None:
                raise NotFound("error.no_family_link")
            require_role(session, worker_id, link.role_community_id, "worker")
            if worker_id in (link.member_id, link.relative_id):
                raise NotAllowed("error.own_proxy_action")
            now = self.clock.now()
            claimed = session.execute(
                update(FamilyLink)
                .where(FamilyLink.id == link_id, FamilyLink.status == "approval")
                .values(status="active" if approve else "removed", confirmed_by_id=worker_id, decided_at=now)
            )
            if rowcount(claimed) != 1:
                raise AlreadyDecided("error.family_link_decided", id=f"L{link_id}")
            view = _view(session, link_id)
            audit(
                session,
                self.clock,
                "kin.link" if approve else "kin.refuse",
                worker_id,
                link.role_community_id,
                "person",
                link.member_id,
                {"link": link_id, "relative": link.relative_id, "by": "worker", "reason": reason[:300]},
            )
            if approve:
                self._tell_linked(session, view)
            else:
                notify(
                    session,
                    self.clock,
                    link.member_id,
                    "family.notify.link_refused",
                    id=f"L{link_id}",
                    name=view.relative_name,
                    reason=reason[:300],
                )
            return view

        return self.db.transaction(work)

    @reads
    def elders_named(self, community_id: int, name: str) -> list[tuple[int, str, int]]:
        """Elders of the community's roster a name (or `E12`) means: (id, name, birth year)."""
        name = name.strip()
        which = Elder.id == int(name[1:]) if re.fullmatch(r"[Ee]\d{1,9}", name) else Elder.name == name
        with self.db.read() as session:
            rows = session.execute(
                select(Elder.id, Elder.name, Elder.birth_year)
                .where(Elder.community_id == community_id, Elder.active.is_(True), which)
                .order_by(Elder.id)
                .limit(10)
            )
            return [(elder_id, elder_name, born) for elder_id, elder_name, born in rows]

    @reads
    def waiting_links(self, worker_id: int, community_id: int) -> list[LinkView]:
        """Workers' own family links waiting for another worker, oldest first (for /pending)."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            ids = session.scalars(
                select(FamilyLink.id)
                .where(FamilyLink.role_community_id == community_id, FamilyLink.status == "approval")
                .order_by(FamilyLink.id)
                .limit(1000)
            )
            return [_view(session, i) for i in ids]

    def remove(self, actor_id: int, link_id: int) -> LinkView:
        """Either side of the link, or a worker of the relative's community, may end it."""

        def work(session: Session) -> LinkView:
            link = session.get(FamilyLink, link_id)
            if link is None or link.status != "active" or link.relative_id is None:
                raise NotFound("error.no_family_link")
            relative_community = get_person(session, link.relative_id).community_id
            if actor_id not in (link.member_id, link.relative_id) and (
                relative_community is None or role_in(session, actor_id, relative_community) != "worker"
            ):
                raise NotAllowed("error.not_family")
            view = _view(session, link.id)
            claimed = session.execute(
                update(FamilyLink)
                .where(FamilyLink.id == link_id, FamilyLink.status == "active")
                .values(status="removed", decided_at=self.clock.now())
            )
            if rowcount(claimed) != 1:
                raise NotFound("error.no_family_link")
            # Whoever acted for the relative through this link stops now.
            session.execute(
                delete(ActingFor).where(
                    ActingFor.person_id == link.member_id, ActingFor.relative_id == link.relative_id
                )
            )
            relative = get_person(session, link.relative_id)
            audit(
                session,
                self.clock,
                "kin.unlink",
                actor_id,
                relative.community_id,
                "person",
                link.member_id,
                {"link": link.id, "relative": link.relative_id},
            )
            for other in {link.member_id, link.relative_id} - {actor_id}:
                notify(
                    session,
                    self.clock,
                    other,
                    "family.notify.removed",
                    name=view.relative_name if other == link.member_id else view.member_name,
                )
            return view

        return self.db.transaction(work)

    @reads
    def links(self, person_id: int) -> list[LinkView]:
        """The person's links, as the member and as the relative."""
        with self.db.read() as session:
            ids = session.scalars(
                select(FamilyLink.id)
                .where(
                    FamilyLink.status == "active",
                    or_(FamilyLink.member_id == person_id, FamilyLink.relative_id == person_id),
                )
                .order_by(FamilyLink.id)
            )
            return [_view(session, i) for i in ids]

    def _room_for_one_more(self, session: Session, member_id: int) -> None:
        count = len(
            list(
                session.scalars(
                    select(FamilyLink.id).where(
                        FamilyLink.member_id == member_id, FamilyLink.status.in_(("pending", "active"))
                    )
                )
            )
        )
        if count >= MAX_LINKS:
            raise InvalidInput("error.family_too_many", most=MAX_LINKS)

    # --- acting for a relative ---------------------------------------------------------------

    @reads
    def linked_relative(self, person_id: int, name: str, *, either_way: bool = False) -> int | None:
        """The relative `name` (the name shown, the real name, or `#12`) among the person's links;
        `either_way` also finds the members linked to the person (family for a gift)."""
        name = name.strip()
        which = (
            Person.id == int(name[1:])
            if re.fullmatch(r"#\d{1,9}", name)
            else or_(Person.display_name == name, Person.real_name == name)
        )
        relative = and_(FamilyLink.member_id == person_id, FamilyLink.relative_id == Person.id)
        member = and_(FamilyLink.relative_id == person_id, FamilyLink.member_id == Person.id)
        with self.db.read() as session:
            return session.scalar(
                select(Person.id)
                .join(FamilyLink, or_(relative, member) if either_way else relative)
                .where(FamilyLink.status == "active", which)
                .order_by(Person.id)
                .limit(1)
            )

    def act_as(self, person_id: int, relative_id: int) -> Relative:
        def work(session: Session) -> Relative:
            if not may_act_for(session, person_id, relative_id):
                raise why_not(session, person_id, relative_id)
            relative = get_person(session, relative_id)
            session.execute(delete(ActingFor).where(ActingFor.person_id == person_id))
            session.add(ActingFor(person_id=person_id, relative_id=relative_id, since=self.clock.now()))
            tell_of_proxy(session, self.clock, "act_as", person_id, relative_id, relative.community_id)
            return _relative(session, relative)

        return self.db.transaction(work)

    def act_as_self(self, person_id: int) -> bool:
        """Back to acting for oneself; False when one was not acting for anybody."""

        def work(session: Session) -> bool:
            gone = session.execute(delete(ActingFor).where(ActingFor.person_id == person_id))
            return rowcount(gone) > 0

        return self.db.transaction(work)

    def acting_for(self, session: Session, person_id: int, relative_id: int) -> Relative | None:
        """The relative the dialog acts for, re-checked on every turn: a removed link or a
        worker who left the community ends it at once."""
        if not may_act_for(session, person_id, relative_id):
            return None
        return _relative(session, get_person(session, relative_id))


def end_role_links(session: Session, clock: Clock, actor_id: int | None, person_id: int, community_id: int) -> int:
    """The person's worker role in the community ended: the links made while they were a worker
    there end with it, and both sides are told. Runs in the caller's transaction."""
    ids = list(
        session.scalars(
            select(FamilyLink.id).where(
                FamilyLink.member_id == person_id,
                FamilyLink.role_community_id == community_id,
                FamilyLink.status.in_(("approval", "active")),
            )
        )
    )
    for link_id in ids:
        view = _view(session, link_id)
        session.execute(
            update(FamilyLink).where(FamilyLink.id == link_id).values(status="removed", decided_at=clock.now())
        )
        session.execute(
            delete(ActingFor).where(ActingFor.person_id == person_id, ActingFor.relative_id == view.relative_id)
        )
        audit(
            session,
            clock,
            "kin.unlink",
            actor_id,
            community_id,
            "person",
            person_id,
            {"link": link_id, "relative": view.relative_id, "by": "role_ended"},
        )
        notify(session, clock, person_id, "family.notify.removed", name=view.relative_name)
        notify(session, clock, view.relative_id, "family.notify.removed", name=view.member_name)
    return len(ids)


def _relative(session: Session, relative: Person) -> Relative:
    role = None if relative.community_id is None else role_in(session, relative.id, relative.community_id)
    return Relative(relative.id, relative.display_name, relative.community_id, role)


def _view(session: Session, link_id: int) -> LinkView:
    member, relative = Person.__table__.alias("member"), Person.__table__.alias("relative")
    row = (
        session.execute(
            select(
                FamilyLink.id,
                FamilyLink.member_id,
                member.c.display_name,
                FamilyLink.relative_id,
                relative.c.display_name,
                FamilyLink.status,
            )
            .join(member, member.c.id == FamilyLink.member_id)
            .outerjoin(relative, relative.c.id == FamilyLink.relative_id)
            .where(FamilyLink.id == link_id)
        )
    ).first()
    if row is None:
        raise NotFound("error.no_family_link")
    return LinkView(row[0], row[1], row[2], row[3], row[4] or "", row[5])


def deadline_items(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    """A worker's own family link waiting for another worker (L5), as decisions on time count
    them (a source of WAITING_SOURCES): waiting now only; about the worker who made it, who
    never decides it."""
    if start is not None:
        return []
    name = func.coalesce(Person.real_name, Person.display_name)
    return [
        Item(f"L{i}", c, m, n, at)
        for i, c, m, n, at in session.execute(
            select(FamilyLink.id, FamilyLink.role_community_id, FamilyLink.member_id, name, FamilyLink.created_at)
            .join(Person, Person.id == FamilyLink.member_id)
            .where(FamilyLink.role_community_id.in_(community_ids), FamilyLink.status == "approval")
        )
        if c is not None
    ]


WAITING_SOURCES.append(deadline_items)
