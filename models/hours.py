"""Service categories and service logs (hours volunteered)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, Points, UTCDateTime, one_of


class LogStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


LOG_STATUSES = tuple(s.value for s in LogStatus)


class ServiceCategory(IdPk, Base):
    __tablename__ = "service_categories"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(50))
    points_per_hour: Mapped[int] = mapped_column(Integer, default=10)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceLog(IdPk, Base):
    __tablename__ = "service_logs"
    __table_args__ = (
        Index("ix_service_logs_community_status", "community_id", "status"),
        Index("ix_service_logs_person_date", "person_id", "service_date"),
        one_of("status", LOG_STATUSES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"))
    service_date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    # Rate fixed when the log is submitted, so later rate changes do not rewrite history.
    points_per_hour: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Points)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    photo: Mapped[str | None] = mapped_column(String(256), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # True when a worker recorded the hours for the volunteer (代录) or for an event.
    recorded_by_worker: Mapped[bool] = mapped_column(Boolean, default=False)
    event_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The request that created it (update id, retry id): a redelivery creates nothing new.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
