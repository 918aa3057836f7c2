"""People's rights over their data: asking to be forgotten, and ID numbers kept for certificates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

ERASURE_STATUSES = ("pending", "done", "refused")
ID_TYPES = ("resident_id",)  # 居民身份证; the only kind checked today


class ErasureRequest(IdPk, Base):
    """`/forget`: a person asks to be forgotten; a worker of their community approves (F3 in
    /pending) and the person is anonymised in the same transaction."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        Index("ix_erasure_requests_community_status", "community_id", "status"),
        one_of("status", ERASURE_STATUSES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # a refusal's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdDocument(IdPk, Base):
    """A person's ID number, given with its own consent for certificates and the volunteer-hours
    export (the one output that carries it whole: the national system needs it): only the Fernet token
    (under LOVEBANK_DATA_KEY) and the masked form are stored, never the number itself."""

    __tablename__ = "id_documents"
    __table_args__ = (one_of("id_type", ID_TYPES),)

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    id_type: Mapped[str] = mapped_column(String(16))
    encrypted: Mapped[str] = mapped_column(String(512))
    masked: Mapped[str] = mapped_column(String(32))  # 1101**********123X
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
