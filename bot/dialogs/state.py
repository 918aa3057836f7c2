"""Who is writing and where they are in a step-by-step flow: read in one query, written once per
turn together with whatever else finishes the turn (the inbox marks its entry handled there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select
from sqlalchemy.orm import Session

from bot.family.service import FamilyService, Relative
from bot.kernel.clock import Clock
from bot.kernel.db import Database, insert, reads
from models import ActingFor, Consent, DialogState, Identity, Membership, Person


@dataclass(frozen=True)
class Who:
    """The person as a turn needs them (plain values: no ORM object to track)."""

    id: int
    display_name: str
    locale: str
    community_id: int | None
    is_admin: bool


@dataclass(frozen=True)
class Channel:
    id: int
    chat_id: str | None


@dataclass(frozen=True)
class Saved:
    flow: str
    step: str
    data: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class Loaded:
    """Unconfirmed volunteers act as residents until confirmed (`confirmed`)."""

    person: Who
    identity: Channel
    role: str | None
    confirmed: bool | None
    state: Saved | None
    relative: Relative | None  # the relative the person acts for, re-checked now
    consented: str | None = None  # the privacy notice version the person last agreed to as a volunteer


class DialogStates:
    def __init__(self, db: Database, clock: Clock, family: FamilyService) -> None:
        self.db, self.clock, self.family = db, clock, family

    @reads
    def load(self, channel: str, external_id: str) -> Loaded | None:
        with self.db.read() as session:
            # Through the connection: a plain row, without the ORM session's execute machinery.
            row = session.connection().execute(_LOAD, {"channel": channel, "external_id": external_id}).first()
            if row is None:
                return None
            (
                person_id,
                name,
                locale,
                community_id,
                is_admin,
                identity_id,
                chat_id,
                role,
                confirmed,
                flow,
                step,
                data,
                updated_at,
                relative_id,
                consented,
            ) = row
            relative = None if relative_id is None else self.family.acting_for(session, person_id, relative_id)
        state = None if updated_at is None else Saved(flow, step, data, updated_at)
        return Loaded(
            Who(person_id, name, locale, community_id, is_admin),
            Channel(identity_id, chat_id),
            role,
            confirmed,
            state,
            relative,
            consented,
        )

    def save(self, identity_id: int, state: dict[str, Any]) -> None:
        """`{}` forgets the saved state (in the turn's unit of work)."""

        def work(session: Session) -> None:
            if not state:
                session.execute(delete(DialogState).where(DialogState.identity_id == identity_id))
                return
            # One upsert instead of a delete and an insert: a statement less on every step.
            row = {**state, "updated_at": self.clock.now()}
            session.execute(
                insert(session, DialogState)
                .values(identity_id=identity_id, **row)
                .on_conflict_do_update(index_elements=[DialogState.identity_id], set_=row)
            )

        self.db.transaction(work)


# The notice version of the person's latest consent as a volunteer (the consents index, one row).
_CONSENTED = (
    select(Consent.notice_version)
    .where(Consent.person_id == Person.id, Consent.kind == "volunteer")
    .order_by(Consent.id.desc())
    .limit(1)
    .scalar_subquery()
)

# Built once, run on every turn: plain columns, so no ORM objects are made and tracked.
_LOAD = (
    select(
        Person.id,
        Person.display_name,
        Person.locale,
        Person.community_id,
        Person.is_admin,
        Identity.id,
        Identity.chat_id,
        Membership.role,
        Membership.confirmed,
        DialogState.flow,
        DialogState.step,
        DialogState.data,
        DialogState.updated_at,
        ActingFor.relative_id,
        _CONSENTED,
    )
    .select_from(Identity)
    .join(Person, Person.id == Identity.person_id)
    .outerjoin(Membership, and_(Membership.person_id == Person.id, Membership.community_id == Person.community_id))
    .outerjoin(DialogState, DialogState.identity_id == Identity.id)
    .outerjoin(ActingFor, ActingFor.person_id == Person.id)
    .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
)
