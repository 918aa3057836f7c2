"""The inbox: every incoming update, committed before the platform is answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

# new → handled (reply stored, not yet sent) → done; parked when it kept failing.
INBOX_STATES = ("new", "handled", "done", "parked")
OPEN = ("new", "handled")
# How a stored reply went out: sent, as the passive answer, not at all (unreachable), or none to
# send; "pruned": a parked entry past the retention, its message and reply deleted.
REPLIED = ("sent", "passive", "unreachable", "none", "pruned")


# The heads: one open entry per sender, the only ones a worker may claim.
HEADS = text("head_seq IS NOT NULL")


class InboxEntry(IdPk, Base):
    """One update from a platform, known by the platform's own id so a redelivery is a duplicate.
    `sender` orders one person's updates: they are handled one at a time, in arrival order. Only
    the sender's head (their oldest open entry, `head_seq` set) can be claimed, so a claim reads
    one row per waiting person however many updates wait behind them."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "platform_id"),
        Index("ix_inbox_open", "status", "channel", "sender", "id"),
        Index("ix_inbox_sender", "channel", "sender", "id"),
        Index("ix_inbox_heads", "channel", "sender", unique=True, postgresql_where=HEADS, sqlite_where=HEADS),
        Index("ix_inbox_queue", "head_seq", "id", postgresql_where=HEADS, sqlite_where=HEADS),
        one_of("status", INBOX_STATES),
        one_of("replied", REPLIED),
    )

    channel: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )  # backoff, or a passive-reply hold
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the channel answers, built when handled; `reply_sent` parts of it have gone out.
    reply: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reply_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replied: Mapped[str | None] = mapped_column(String(16), nullable=True)  # sent | passive | unreachable | none
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set while this entry is its sender's head: its place in the queue of people (claims take the
    # lowest first, so a person whose next update becomes head goes behind everyone waiting).
    head_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Pacing (a flood): the sender's theoretical time after this entry (GCRA); see services/inbox.
    pace_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
