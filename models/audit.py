"""Audit trail of privileged actions (adjustments, appointments, exports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime


class AuditEntry(IdPk, Base):
    __tablename__ = "audit_log"
    # Recent entries of one actor and action: counting wrong pickup codes guessed by a worker.
    __table_args__ = (Index("ix_audit_log_actor_action", "actor_id", "action", "created_at"),)

    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
