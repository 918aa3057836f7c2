"""Outbound notifications, written in the same transaction as their cause (an outbox):
channels deliver them later in each person's language."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, literal, or_, select
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from models import Membership, Notification, Person


def notify(
    session: Session, clock: Clock, person_id: int, key: str, *, coalesce: str | None = None, **params: Any
) -> None:
    session.add(
        Notification(person_id=person_id, key=key, params=params, coalesce_key=coalesce, created_at=clock.now())
    )


_COLUMNS = Notification.__table__.c


def notify_workers(
    session: Session,
    clock: Clock,
    community_id: int,
    key: str,
    *,
    coalesce: str | None = None,
    exclude: int | None = None,
    **params: Any,
) -> None:
    # One INSERT … SELECT, however many workers: no round trip to read them first.
    workers = select(
        Membership.person_id,
        literal(key, _COLUMNS.key.type),
        literal(params, _COLUMNS.params.type),
        literal(coalesce, _COLUMNS.coalesce_key.type),
        literal(clock.now(), _COLUMNS.created_at.type),
    ).where(Membership.community_id == community_id, Membership.role == "worker")
    if exclude is not None:
        workers = workers.where(Membership.person_id != exclude)
    session.execute(
        insert(Notification).from_select(["person_id", "key", "params", "coalesce_key", "created_at"], workers)
    )


def withdraw(session: Session, clock: Clock, key: str, ref: str) -> None:
    """Drop the notices `key` about `ref` (e.g. Q3) not delivered yet and not being sent right
    now: once it is decided, a call to decide it would only mislead whoever reads it later."""
    c = _COLUMNS
    session.execute(
        delete(Notification).where(
            c.key == key,
            c.delivered_at.is_(None),
            c.params["id"].as_string() == ref,
            or_(c.lease_until.is_(None), c.lease_until < clock.now()),
        )
    )


def notify_admins(session: Session, clock: Clock, key: str, **params: Any) -> None:
    for admin_id in session.scalars(select(Person.id).where(Person.is_admin.is_(True))):
        notify(session, clock, admin_id, key, **params)
