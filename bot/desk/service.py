"""Getting into the web pages without a password: `/desk` and `/my` in the chat give a link that
logs the person in once (10 minutes, bound to the person, the identity that asked and their
community); opening it starts an 8-hour session. Inside WeChat the Official Account's web
authorisation can start one too, for an identity already in the bank. Only SHA-256 hashes of the
secrets are stored. A session says who is there, never what they may do: `user` reads the
person's role in the session's community again on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.kernel.access import coordinated_grids, effective_role, has_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, rowcount
from bot.kernel.errors import NotAllowed, NotFound
from models import Community, DeskLogin, Elder, Identity, Membership, Person

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=8)
TARGETS = ("desk", "my")  # the page a link opens: the worker's desk or the member's page
SECRET_MAX = 64  # longer is not one of ours
COORDINATOR = "coordinator"  # a page's role: workers, and grid coordinators within their grids


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewLink:
    secret: str
    minutes: int


@dataclass(frozen=True)
class Opened:
    session: str  # the session's secret, for the cookie
    target: str
    seconds: int  # how long the session lasts


@dataclass(frozen=True)
class DeskUser:
    """Who a session belongs to, as of this request."""

    person_id: int
    identity_id: int
    channel: str
    external_id: str
    display_name: str
    locale: str
    community_id: int
    community_name: str
    role: str | None  # in community_id, as the chat counts it; None: no longer a member
    is_admin: bool
    birth_year: int | None  # from the elders' roster when the person is on it
    coordinates: bool = False  # a grid coordinator (网格员) of the community now

    def at_least(self, role: str) -> bool:
        return has_role(self.is_admin, self.role, role)

    def admits(self, role: str) -> bool:
        """Whether a page for `role` opens for the person: a member's rank, or "coordinator" for
        the workers' pages a grid coordinator opens too (the services keep them to their grids)."""
        if role == COORDINATOR:
            return self.at_least("worker") or (self.coordinates and self.at_least("volunteer"))
        return self.at_least(role)


class DeskService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def new_link(self, person_id: int, identity_id: int, community_id: int, target: str) -> NewLink:
        """A one-time login link for the person in their community; earlier unused links of the
        person stop working."""
        if target not in TARGETS:
            raise ValueError(f"unknown desk page {target!r}")

        def work(session: Session) -> NewLink:
            now = self.clock.now()
            session.execute(delete(DeskLogin).where(DeskLogin.expires_at < now))  # old ones go
            session.execute(
                delete(DeskLogin).where(
                    DeskLogin.person_id == person_id, DeskLogin.kind == "link", DeskLogin.used_at.is_(None)
                )
            )
            secret = _issue(session, "link", 24, LINK_LIFETIME, person_id, identity_id, community_id, target, now)
            return NewLink(secret, int(LINK_LIFETIME.total_seconds() // 60))

        return self.db.transaction(work)

    def open_link(self, secret: str, client: str | None = None) -> Opened:
        """Use a login link once: a new session, audited. NotFound("desk.link_bad") for a wrong,
        used or expired link (the same answer for all three)."""
        if not secret or len(secret) > SECRET_MAX:
            raise NotFound("desk.link_bad")

        def work(session: Session) -> Opened:
            now = self.clock.now()
            link = session.scalar(
                select(DeskLogin).where(DeskLogin.token_hash == _hash(secret), DeskLogin.kind == "link")
            )
            if link is None or link.used_at is not None or link.expires_at < now:
                raise NotFound("desk.link_bad")
            used = session.execute(
                update(DeskLogin).where(DeskLogin.id == link.id, DeskLogin.used_at.is_(None)).values(used_at=now)
            )
            if rowcount(used) != 1:  # another request took it a moment ago
                raise NotFound("desk.link_bad")
            return self._start(session, link.person_id, link.identity_id, link.community_id, link.target, client)

        return self.db.transaction(work)

    def link_locale(self, secret: str) -> str | None:
        """The language of the person a link was made for, used or not, expired or not (None for a
        made-up one): the page saying it no longer works speaks it."""
        if not secret or len(secret) > SECRET_MAX:
            return None
        with self.db.read() as session:
            return session.scalar(
                select(Person.locale)
                .join(DeskLogin, DeskLogin.person_id == Person.id)
                .where(DeskLogin.token_hash == _hash(secret), DeskLogin.kind == "link")
            )

    def open_identity(self, channel: str, external_id: str, target: str, client: str | None = None) -> Opened:
        """A session for an identity the platform vouched for (WeChat's web authorisation gives
        the openid): only one already in the bank, in the community the person acts in now."""
        if target not in TARGETS:
            target = "my"

        def work(session: Session) -> Opened:
            found = session.execute(
                select(Identity.id, Person.id, Person.community_id)
                .join(Person, Person.id == Identity.person_id)
                .where(Identity.channel == channel, Identity.external_id == external_id, Person.forgotten_at.is_(None))
            ).first()
            if found is None or found[2] is None:
                raise NotAllowed("desk.not_known")
            return self._start(session, found[1], found[0], found[2], target, client)

        return self.db.transaction(work)

    def _start(
        self, session: Session, person_id: int, identity_id: int, community_id: int, target: str, client: str | None
    ) -> Opened:
        now = self.clock.now()
        secret = _issue(session, "session", 32, SESSION_LIFETIME, person_id, identity_id, community_id, target, now)
        session.flush()
        audit(
            session,
            self.clock,
            "desk.login",
            person_id,
            community_id,
            details={"page": target, "client": client},
            person_id=person_id,
        )
        return Opened(secret, target, int(SESSION_LIFETIME.total_seconds()))

    def user(self, secret: str | None) -> DeskUser | None:
        """Who the session belongs to now, or None: no such session, expired, the person
        forgotten or acting in another community since (the session was for that one)."""
        if not secret or len(secret) > SECRET_MAX:
            return None
        with self.db.read() as session:
            row = session.execute(
                select(
                    DeskLogin.person_id,
                    DeskLogin.identity_id,
                    DeskLogin.community_id,
                    DeskLogin.expires_at,
                    Identity.channel,
                    Identity.external_id,
                    Identity.person_id,
                    Person.display_name,
                    Person.locale,
                    Person.community_id,
                    Person.is_admin,
                    Person.forgotten_at,
                    Community.name,
                )
                .join(Identity, Identity.id == DeskLogin.identity_id)
                .join(Person, Person.id == DeskLogin.person_id)
                .join(Community, Community.id == DeskLogin.community_id)
                .where(DeskLogin.token_hash == _hash(secret), DeskLogin.kind == "session")
            ).first()
            if row is None:
                return None
            (person_id, identity_id, community_id, expires_at, channel, external_id, identity_person) = row[:7]
            name, locale, acting_in, is_admin, forgotten_at, community_name = row[7:]
            if (
                expires_at < self.clock.now()
                or identity_person != person_id  # the identity was linked to someone else since
                or forgotten_at is not None
                or acting_in != community_id
            ):
                return None
            membership = session.execute(
                select(Membership.role, Membership.confirmed).where(
                    Membership.person_id == person_id, Membership.community_id == community_id
                )
            ).first()
            role = effective_role(membership[0], membership[1]) if membership is not None else None
            birth_year = session.scalar(
                select(Elder.birth_year)
                .where(Elder.person_id == person_id, Elder.community_id == community_id)
                .limit(1)
            )
            coordinates = role == "volunteer" and bool(coordinated_grids(session, person_id, community_id))
        return DeskUser(
            person_id,
            identity_id,
            channel,
            external_id,
            name,
            locale,
            community_id,
            community_name,
            role,
            is_admin,
            birth_year,
            coordinates,
        )

    def logout(self, secret: str | None) -> None:
        if not secret or len(secret) > SECRET_MAX:
            return
        self.db.transaction(
            lambda session: session.execute(
                delete(DeskLogin).where(DeskLogin.token_hash == _hash(secret), DeskLogin.kind == "session")
            )
        )


def _issue(
    session: Session,
    kind: str,
    nbytes: int,
    lifetime: timedelta,
    person_id: int,
    identity_id: int,
    community_id: int,
    target: str,
    now: datetime,
) -> str:
    """A new login row of `kind` (a one-time link or a session); only the secret's hash is kept."""
    secret = secrets.token_urlsafe(nbytes)
    session.add(
        DeskLogin(
            token_hash=_hash(secret),
            kind=kind,
            person_id=person_id,
            identity_id=identity_id,
            community_id=community_id,
            target=target,
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    return secret
