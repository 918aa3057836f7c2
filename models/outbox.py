"""Outbound notifications, dialog state and scheduled-job runs: the chat plumbing that lives
in the database so it survives restarts and works with several processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime


class Notification(IdPk, Base):
    """A message for a person (or a group chat), written in the same transaction as its cause
    and delivered by whichever channel reaches the person."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_undelivered", "delivered_at", "person_id"),)

    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    # For group posts: "telegram:<chat id>"; None for a person.
    chat: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    # Same coalesce key within a short window → one message (e.g. "new pending logs").
    coalesce_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Delivery: claimed with a lease, sent, then marked delivered; failures back off until
    # `not_before` and are parked after a few tries (admins list them with `lovebank parked`).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Held by the channel (its budget for the person is spent): not tried again until the person
    # writes, and then carried by the answer. How it went: message, template or reply (folded in).
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_via: Mapped[str | None] = mapped_column(String(16), nullable=True)


class DialogState(Base):
    """Where a person is in a step-by-step flow; one row per identity, gone when idle 30 min."""

    __tablename__ = "dialog_states"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobRun(Base):
    """One row per job, scope and period: inserting it claims the run, so a restart or a
    second process never runs the same period twice."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "scope", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
