"""Whether a person can be reached on a channel: when they last wrote (their newest inbox entry;
WeChat lets an account write back for 48 hours after a person's message) and whether they left
(unfollowed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from models import Identity, InboxEntry


def left(session: Session, clock: Clock, channel: str, external_id: str) -> None:
    """The person unfollowed: their notifications wait (nothing is lost) until they write again.
    Called in the transaction that settles the event, after the inbox's own bookkeeping."""
    session.execute(
        update(Identity)
        .where(Identity.channel == channel, Identity.external_id == external_id)
        .values(unreachable_at=clock.now())
    )


def wrote_within(db: Database, clock: Clock, channel: str, external_id: str, window: timedelta) -> bool:
    with db.read() as session:
        last = session.scalar(
            select(func.max(InboxEntry.received_at)).where(
                InboxEntry.channel == channel, InboxEntry.sender == external_id
            )
        )
    return last is not None and clock.now() - last < window
