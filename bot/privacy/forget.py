"""`/forget` (注销/删除我的信息): a person asks to be forgotten; a worker of their community
approves it (F3 in /pending, with the deadlines of bot.deadlines.service) and the person is
anonymised in that same transaction.

What goes: the name (the person becomes 已注销用户#123), the phone, the ID number, the channel
identities (so the chat no longer knows them), their dialogs, codes, files and undelivered
messages, and the free text of their own rows (every nullable Text column, photos, addresses,
places). Their name and phone are then swept out of every text and JSON column of every table
(audit details, notices sent to workers, certificates they handled, inbox replies). What stays:
the person row, memberships, accounts and every transfer, hour logs and their figures, so the
ledger still balances and the community's statistics do not move."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.kernel.access import get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads
from bot.kernel.errors import AlreadyDecided, InvalidInput, NotAllowed, NotFound
from bot.messages.notify import notify, notify_workers
from bot.privacy.mydata import collect
from models import (
    ActingFor,
    Base,
    Certificate,
    CommunityMove,
    DeskLogin,
    DialogState,
    Download,
    Elder,
    ElderVolunteer,
    ErasureRequest,
    FamilyLink,
    IdDocument,
    Identity,
    InboxEntry,
    LinkCode,
    Membership,
    Notification,
    Person,
    SendBudget,
)

PSEUDONYM = "已注销用户#{id}"
HIDDEN_PHONE = "***"
# Columns holding the name or phone of the row's own subject: another person with the same
# name keeps theirs (the forgotten person's own rows are rewritten explicitly).
OWN_NAMES = {
    ("people", "display_name"),
    ("people", "real_name"),
    ("people", "phone"),
    ("identities", "handle"),
    ("identities", "external_id"),
    ("elders", "name"),
    ("elders", "phone"),
    ("elders", "import_key"),
}
# Free text besides Text columns, cleared in the person's own rows.
FREE = ("photo", "address", "lat", "lon", "emergency_contact")
MIN_SWEEP = 2  # a one-character name would be found inside every other word


@dataclass(frozen=True)
class Asked:
    id: int
    again: bool


@dataclass(frozen=True)
class Waiting:
    id: int
    person_name: str
    submitted_at: datetime


@dataclass(frozen=True)
class Decided:
    id: int
    person_name: str  # as it was shown before (the pseudonym once forgotten)
    changed: bool


def pseudonym(person_id: int) -> str:
    return PSEUDONYM.format(id=person_id)


class ForgetService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def request(self, person_id: int, community_id: int) -> Asked:
        def work(session: Session) -> Asked:
            if role_in(session, person_id, community_id) is None:
                raise NotAllowed("error.no_community_yet")
            waiting = session.scalar(
                select(ErasureRequest.id).where(
                    ErasureRequest.person_id == person_id, ErasureRequest.status == "pending"
                )
            )
            if waiting is not None:
                return Asked(waiting, True)
            asked = ErasureRequest(
                community_id=community_id, person_id=person_id, status="pending", created_at=self.clock.now()
            )
            session.add(asked)
            session.flush()
            notify_workers(
                session,
                self.clock,
                community_id,
                "forget.worker_asked",
                exclude=person_id,
                coalesce="pending_erasures",
                id=f"F{asked.id}",
            )
            audit(session, self.clock, "erasure.request", person_id, community_id, "erasure", asked.id)
            return Asked(asked.id, False)

        return self.db.transaction(work)

    @reads
    def waiting(self, worker_id: int, community_id: int) -> list[Waiting]:
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            e = ErasureRequest
            rows = session.execute(
                select(e.id, _name(), e.created_at)
                .join(Person, Person.id == e.person_id)
                .where(e.community_id == community_id, e.status == "pending", e.person_id != worker_id)
                .order_by(e.created_at, e.id)
            )
            return [Waiting(i, n, at) for i, n, at in rows]

    def approve(self, worker_id: int, request_id: int) -> Decided:
        def work(session: Session) -> Decided:
            asked = self._decidable(session, worker_id, request_id)
            if asked.status == "done":
                return Decided(asked.id, pseudonym(asked.person_id), False)
            if asked.status != "pending":
                raise AlreadyDecided("forget.already_decided", id=f"F{asked.id}")
            name = session.scalar(select(_name()).where(Person.id == asked.person_id)) or ""
            forget(session, self.clock, asked.person_id)
            asked.status, asked.decided_by_id, asked.decided_at = "done", worker_id, self.clock.now()
            audit(
                session,
                self.clock,
                "erasure.done",
                worker_id,
                asked.community_id,
                "erasure",
                asked.id,
                details={"person": asked.person_id},
            )
            return Decided(asked.id, name and pseudonym(asked.person_id), True)

        return self.db.transaction(work)

    def refuse(self, worker_id: int, request_id: int, reason: str) -> Decided:
        reason = reason.strip()[:500]
        if not reason:
            raise InvalidInput("forget.need_reason")

        def work(session: Session) -> Decided:
            asked = self._decidable(session, worker_id, request_id)
            name = session.scalar(select(_name()).where(Person.id == asked.person_id)) or ""
            if asked.status == "refused":
                return Decided(asked.id, name, False)
            if asked.status != "pending":
                raise AlreadyDecided("forget.already_decided", id=f"F{asked.id}")
            asked.status, asked.reason = "refused", reason
            asked.decided_by_id, asked.decided_at = worker_id, self.clock.now()
            notify(session, self.clock, asked.person_id, "forget.refused", id=f"F{asked.id}", reason=reason)
            audit(
                session,
                self.clock,
                "erasure.refuse",
                worker_id,
                asked.community_id,
                "erasure",
                asked.id,
                details={"reason": reason},
            )
            return Decided(asked.id, name, True)

        return self.db.transaction(work)

    def _decidable(self, session: Session, worker_id: int, request_id: int) -> ErasureRequest:
        asked = session.get(ErasureRequest, request_id, with_for_update=True)
        if (
            asked is None
            or role_in(session, worker_id, asked.community_id) != "worker"
            and not get_person(session, worker_id).is_admin
        ):
            raise NotFound("forget.no_such", id=f"F{request_id}")
        if asked.person_id == worker_id:
            raise NotAllowed("forget.not_own")
        return asked


def _name() -> Any:
    return func.coalesce(Person.real_name, Person.display_name)


def forget(session: Session, clock: Clock, person_id: int) -> None:
    """Anonymise the person (see the module's docstring); the caller's transaction commits."""
    person = get_person(session, person_id)
    identities = session.execute(
        select(Identity.id, Identity.channel, Identity.external_id, Identity.handle).where(
            Identity.person_id == person_id
        )
    ).all()
    elders = session.scalars(select(Elder).where(Elder.person_id == person_id)).all()
    names = {person.display_name, person.real_name, *(i.handle for i in identities), *(e.name for e in elders)}
    phones = {person.phone, *(e.phone for e in elders)}
    phones.add(session.scalar(select(IdDocument.masked).where(IdDocument.person_id == person_id)))
    alias = pseudonym(person_id)
    owned = collect(session, person_id).owned
    _clear_free_text(session, owned)

    now = clock.now()
    ids = [i.id for i in identities]
    session.execute(delete(DialogState).where(DialogState.identity_id.in_(ids)))
    for i in identities:
        session.execute(delete(SendBudget).where(SendBudget.channel == i.channel, SendBudget.address == i.external_id))
        session.execute(
            delete(InboxEntry).where(  # what is being handled this moment finishes first
                InboxEntry.channel == i.channel,
                InboxEntry.sender == i.external_id,
                or_(InboxEntry.lease_until.is_(None), InboxEntry.lease_until < now),
            )
        )
    session.execute(delete(DeskLogin).where(DeskLogin.person_id == person_id))
    session.execute(delete(Identity).where(Identity.person_id == person_id))
    session.execute(delete(LinkCode).where(LinkCode.person_id == person_id))
    session.execute(delete(Download).where(Download.person_id == person_id))
    session.execute(delete(IdDocument).where(IdDocument.person_id == person_id))
    session.execute(delete(ActingFor).where(or_(ActingFor.person_id == person_id, ActingFor.relative_id == person_id)))
    session.execute(
        delete(Notification).where(Notification.person_id == person_id, Notification.delivered_at.is_(None))
    )
    session.execute(
        update(FamilyLink)
        .where(
            or_(FamilyLink.member_id == person_id, FamilyLink.relative_id == person_id), FamilyLink.status != "removed"
        )
        .values(status="removed", code=None, decided_at=now)
    )
    session.execute(
        update(Certificate)
        .where(Certificate.person_id == person_id)
        .values(person_name=alias, id_type=None, id_number_masked=None)
    )
    # What they asked for and nobody can hand them any more: not waiting in /pending.
    session.execute(
        update(Certificate)
        .where(Certificate.person_id == person_id, Certificate.status == "pending")
        .values(status="refused", decided_at=now)
    )
    session.execute(
        update(CommunityMove)
        .where(CommunityMove.person_id == person_id, CommunityMove.status.in_(("requested", "approved")))
        .values(status="rejected", decided_at=now)
    )
    # Nothing waits for someone who is gone: no elders to visit, none in their care, no worker's role.
    session.execute(delete(ElderVolunteer).where(ElderVolunteer.person_id == person_id))
    session.execute(update(Elder).where(Elder.worker_id == person_id).values(worker_id=None))
    session.execute(
        update(Membership).where(Membership.person_id == person_id, Membership.role == "worker").values(role="resident")
    )
    for elder in elders:
        elder.name, elder.phone, elder.emergency_contact = alias, None, None
        elder.address, elder.import_key = "—", f"forgotten-{elder.id}"
    person.display_name, person.real_name, person.phone = alias, None, None
    person.hide_name, person.forgotten_at, person.is_admin = True, now, False
    session.flush()
    replace = {n: alias for n in names if n and len(n) >= MIN_SWEEP and n != alias}
    replace.update({p: HIDDEN_PHONE for p in phones if p and len(p) >= MIN_SWEEP})
    sweep(session, replace)


def _clear_free_text(session: Session, owned: dict[str, set[Any]]) -> None:
    """Null every nullable free-text column of the person's own rows."""
    for table in Base.metadata.sorted_tables:
        keys = owned.get(table.name)
        pk = list(table.primary_key.columns)
        if not keys or len(pk) != 1 or table.name == "people":
            continue
        cleared = {
            c.name: None
            for c in table.columns
            if c.nullable and not c.foreign_keys and (isinstance(c.type, Text) or c.name in FREE)
        }
        for chunk in _chunks(sorted(keys)):
            if cleared:
                session.execute(update(table).where(pk[0].in_(chunk)).values(**cleared))


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def sweep(session: Session, replace: dict[str, str]) -> int:
    """Replace each key by its value in every text and JSON column of every table (bar OWN_NAMES);
    returns how many rows changed. JSON is matched in its stored form, non-ASCII escaped or not."""
    if not replace:
        return 0
    changed = 0
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        for column in table.columns:
            if (table.name, column.name) in OWN_NAMES or column.primary_key:
                continue
            is_json = isinstance(column.type, JSON)
            if not (is_json or isinstance(column.type, String | Text)):
                continue
            text = cast(column, Text) if is_json else column
            forms = {f for old in replace for f in (old, json.dumps(old)[1:-1])} if is_json else set(replace)
            found = session.execute(select(*pk, column).where(or_(*(text.contains(f, autoescape=True) for f in forms))))
            for row in found.all():
                new = _replaced(row[-1], replace)
                if new != row[-1]:
                    session.execute(
                        update(table).where(*(c == row[i] for i, c in enumerate(pk))).values({column.name: new})
                    )
                    changed += 1
    return changed


def _replaced(value: Any, replace: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old in sorted(replace, key=len, reverse=True):
            value = value.replace(old, replace[old])
        return value
    if isinstance(value, list):
        return [_replaced(v, replace) for v in value]
    if isinstance(value, dict):
        return {_replaced(k, replace): _replaced(v, replace) for k, v in value.items()}
    return value


def deadline_items(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    """Requests to be forgotten, as decisions on time count them (a source of WAITING_SOURCES)."""
    e = ErasureRequest
    stmt = (
        select(e.id, e.community_id, e.person_id, _name(), e.created_at, e.decided_at, e.decided_by_id)
        .join(Person, Person.id == e.person_id)
        .where(e.community_id.in_(community_ids))
    )
    if start is None:
        stmt = stmt.where(e.status == "pending")
    else:
        stmt = stmt.where(e.created_at < end, (e.status == "pending") | (e.decided_at >= start))
    return [Item(f"F{i}", cid, p, n, at, ended, by) for i, cid, p, n, at, ended, by in session.execute(stmt)]


WAITING_SOURCES.append(deadline_items)
