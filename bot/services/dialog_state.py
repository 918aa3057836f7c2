"""Who is writing and where they are in a step-by-step flow: read in one query, written once per
turn together with whatever else finishes the turn (the inbox marks its entry handled there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Database, insert, reads
from bot.services.family import FamilyService, Relative
from models import ActingFor, DialogState, Identity, Membership, Person


@dataclass(frozen=True)
class Loaded:
    """Unconfirmed volunteers act as residents until confirmed (`confirmed`)."""

    person: Person
    identity: Identity
    role: str | None
    confirmed: bool | None
    state: DialogState | None
    relative: Relative | None  # the relative the person acts for, re-checked now


class DialogStates:
    def __init__(self, db: Database, clock: Clock, family: FamilyService) -> None:
        self.db, self.clock, self.family = db, clock, family

    @reads
    def load(self, channel: str, external_id: str) -> Loaded | None:
        with self.db.read() as session:
            row = session.execute(
                select(Identity, Person, Membership.role, Membership.confirmed, DialogState, ActingFor.relative_id)
                .join(Person, Person.id == Identity.person_id)
                .outerjoin(Membership, and_(Membership.person_id == Person.id,
                                            Membership.community_id == Person.community_id))
                .outerjoin(DialogState, DialogState.identity_id == Identity.id)
                .outerjoin(ActingFor, ActingFor.person_id == Person.id)
                .where(Identity.channel == channel, Identity.external_id == external_id)
            ).first()
            if row is None:
                return None
            identity, person, role, confirmed, state, relative_id = row
            relative = None if relative_id is None else self.family.acting_for(session, person.id, relative_id)
        return Loaded(person, identity, role, confirmed, state, relative)

    def save(self, identity_id: int, state: dict[str, Any] | None,
             settle: Callable[[Session], None] | None = None) -> None:
        """`state` None leaves the saved state as it is; `{}` forgets it. `settle` runs in the same
        transaction."""

        def work(session: Session) -> None:
            if settle is not None:
                settle(session)
            if state is None:
                return
            if not state:
                session.execute(delete(DialogState).where(DialogState.identity_id == identity_id))
                return
            # One upsert instead of a delete and an insert: a statement less on every step.
            row = {**state, "updated_at": self.clock.now()}
            session.execute(
                insert(session, DialogState).values(identity_id=identity_id, **row)
                .on_conflict_do_update(index_elements=[DialogState.identity_id], set_=row)
            )

        self.db.transaction(work)
