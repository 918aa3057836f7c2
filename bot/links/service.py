"""One person across channels: `/link` in one channel gives a one-time code (10 minutes); typed
in another channel it joins that channel's identity to the same person — one balance, one
history, one set of roles.

Two people become one. The one with activity (anything in the database that points at them
besides their identities, memberships, untouched accounts and waiting notifications) survives;
the other's identities, memberships and empty accounts move over and the other person is
removed. When both have activity the link is refused and nothing changes: merging two ledgers
and two histories is a decision for people, not for a chat command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from bot.kernel.access import RANK, get_person
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.kernel.guesses import Guesses
from bot.kernel.names import new_code
from models import (
    Account,
    AuditEntry,
    Base,
    DeskLogin,
    Download,
    Identity,
    LinkCode,
    Membership,
    Notification,
    Transfer,
)

LIFETIME = timedelta(minutes=10)
CODE_LENGTH = 6
# 32^6 codes live 10 minutes: guessing one is hopeless only while wrong tries are few.
GUESSES = Guesses("identity.wrong_code", "link.locked", "link.bad_code_left")
# References to a person that linking carries over, so they are not "activity" of their own.
CARRIED = {
    ("identities", "person_id"),
    ("memberships", "person_id"),
    ("accounts", "person_id"),
    ("notifications", "person_id"),
    ("link_codes", "person_id"),
    ("downloads", "person_id"),
    ("desk_logins", "person_id"),
}


@dataclass(frozen=True)
class NewCode:
    code: str
    minutes: int


@dataclass(frozen=True)
class Linked:
    person_id: int
    display_name: str
    channels: tuple[str, ...]  # every channel the person is reached on now


class LinksService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def new_code(self, person_id: int, channel: str) -> NewCode:
        def work(session: Session) -> NewCode:
            now = self.clock.now()
            # Earlier unused codes of the person stop working: only the newest one counts.
            session.execute(delete(LinkCode).where(LinkCode.person_id == person_id, LinkCode.used_at.is_(None)))
            code = new_code(CODE_LENGTH)
            session.add(
                LinkCode(code=code, person_id=person_id, channel=channel, expires_at=now + LIFETIME, created_at=now)
            )
            return NewCode(code, int(LIFETIME.total_seconds() // 60))

        return self.db.transaction(work)

    def link(self, identity_id: int, code: str) -> Linked:
        """Join the identity typing `code` to the person who made it."""
        code = (code or "").strip().upper()
        with self.db.read() as session:
            person_id = session.scalar(select(Identity.person_id).where(Identity.id == identity_id))
            if person_id is None:
                raise NotFound("link.bad_code")
            GUESSES.check(session, self.clock, person_id)

        def work(session: Session) -> Linked:
            now = self.clock.now()
            identity = session.get(Identity, identity_id)
            found = session.scalar(select(LinkCode).where(LinkCode.code == code))
            if identity is None or found is None or found.used_at is not None or found.expires_at < now:
                raise NotFound("link.bad_code")
            if found.person_id == identity.person_id:
                raise InvalidInput("link.already")
            if found.channel == identity.channel:
                raise InvalidInput("link.other_channel")
            maker, typer = found.person_id, identity.person_id
            maker_busy, typer_busy = has_activity(session, maker), has_activity(session, typer)
            if maker_busy and typer_busy:
                raise NotAllowed("link.both_active")
            used = session.execute(
                update(LinkCode).where(LinkCode.id == found.id, LinkCode.used_at.is_(None)).values(used_at=now)
            )
            if rowcount(used) != 1:
                raise NotFound("link.bad_code")
            keep, fold = (typer, maker) if typer_busy else (maker, typer)
            _merge(session, keep, fold)
            audit(session, self.clock, "person.link", keep, details={"merged": fold, "channel": identity.channel})
            person = get_person(session, keep)
            channels = tuple(sorted(set(session.scalars(select(Identity.channel).where(Identity.person_id == keep)))))
            return Linked(keep, person.display_name, channels)

        try:
            return self.db.transaction(work)
        except NotFound as exc:
            if exc.key != "link.bad_code":
                raise
            raise GUESSES.wrong(self.db, self.clock, person_id, code) from None


def has_activity(session: Session, person_id: int) -> bool:
    """Anything recorded about the person beyond what linking carries over; every table that
    points at a person counts, including ones added later."""
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name != "people" or (table.name, fk.parent.name) in CARRIED:
                continue
            where = [fk.parent == person_id]
            if fk.parent is AuditEntry.__table__.c.actor_id:  # a mistyped code is not activity
                where.append(AuditEntry.action != GUESSES.action)
            if session.scalar(select(exists().where(*where))):
                return True
    accounts = select(Account.id).where(Account.person_id == person_id)
    if session.scalar(
        select(exists().where(Account.person_id == person_id, or_(Account.posted != 0, Account.pending != 0)))
    ):
        return True
    return bool(
        session.scalar(
            select(
                exists().where(or_(Transfer.debit_account_id.in_(accounts), Transfer.credit_account_id.in_(accounts)))
            )
        )
    )


def _merge(session: Session, keep: int, fold: int) -> None:
    """Everything `fold` has (and that linking carries) becomes `keep`'s; then `fold` goes."""
    survivor, folded = get_person(session, keep), get_person(session, fold)
    session.execute(update(Identity).where(Identity.person_id == fold).values(person_id=keep))
    mine = {m.community_id: m for m in session.scalars(select(Membership).where(Membership.person_id == keep))}
    for theirs in list(session.scalars(select(Membership).where(Membership.person_id == fold))):
        ours = mine.get(theirs.community_id)
        if ours is None:
            theirs.person_id = keep
            continue
        if RANK[theirs.role] > RANK[ours.role]:  # one set of roles: the higher one
            ours.role, ours.confirmed = theirs.role, theirs.confirmed
        session.delete(theirs)
    have = set(session.scalars(select(Account.community_id).where(Account.person_id == keep)))
    for account in list(session.scalars(select(Account).where(Account.person_id == fold))):
        if account.community_id in have:
            session.delete(account)  # empty and never used: the survivor has one there
        else:
            account.person_id = keep
    session.execute(update(Notification).where(Notification.person_id == fold).values(person_id=keep))
    session.execute(update(Download).where(Download.person_id == fold).values(person_id=keep))
    session.execute(
        update(AuditEntry).where(AuditEntry.actor_id == fold, AuditEntry.action == GUESSES.action).values(actor_id=keep)
    )  # the same person's mistyped codes
    session.execute(delete(LinkCode).where(LinkCode.person_id == fold))
    session.execute(delete(DeskLogin).where(DeskLogin.person_id == fold))  # logged out: they were someone else
    survivor.real_name = survivor.real_name or folded.real_name
    survivor.phone = survivor.phone or folded.phone
    survivor.is_admin = survivor.is_admin or folded.is_admin
    survivor.community_id = survivor.community_id or folded.community_id
    session.flush()
    session.delete(folded)
