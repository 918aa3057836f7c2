"""Audit trail of privileged actions (decisions, proxies, adjustments, exports), and consents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

CONSENT_KINDS = ("volunteer", "elder")
# How a consent was obtained: in the person's own chat, or by a worker in person, by phone or
# from a family member (an elder on the roster).
CONSENT_WAYS = ("chat", "in_person", "phone", "family")


class AuditEntry(IdPk, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        # Recent entries of one actor and action: counting wrong pickup codes guessed by a worker.
        Index("ix_audit_log_actor_action", "actor_id", "action", "created_at"),
        # /audit pages newest first by id, keyset: a page costs the same at entry 10 or 10,000.
        Index("ix_audit_log_person_trail", "person_id", "community_id", "id"),
        Index("ix_audit_log_subject_trail", "subject_type", "subject_id", "id"),
    )

    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    # The person the action concerns (whose log was approved, for whom a proxy acted), if any.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(IdPk, Base):
    """A consent to the keeping of personal information, with the privacy notice's version it
    answered. A volunteer's is given in their own chat; an elder's is obtained by a worker."""

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_person", "person_id", "kind", "id"),
        Index("ix_consents_elder", "elder_id", "id"),
        one_of("kind", CONSENT_KINDS),
        one_of("obtained", CONSENT_WAYS),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(16))
    obtained: Mapped[str] = mapped_column(String(16))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)  # the worker
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
