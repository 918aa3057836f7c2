"""Elderly visits (探访): the elder roster, who visits whom, visit and call records, alerts.

An elder carries the time of the last visit, the last call and the run of "not at home"
outcomes, updated whenever a record is written, so the morning lists never scan history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

RISKS = ("high", "normal")
VISIT_KINDS = ("visit", "call")
OUTCOMES = ("well", "needs_help", "not_home", "hospital")
# The three wellbeing questions asked after a visit (精神, 身体, 需要); the worrying answers alert.
MOODS = ("good", "so_so", "poor")
HEALTHS = ("good", "unwell", "doctor")
NEEDS = ("nothing", "shopping", "repairs", "other")
ALERT_REASONS = ("needs_help", "wellbeing")


class Elder(IdPk, Base):
    __tablename__ = "elders"
    __table_args__ = (
        # Re-importing a roster matches rows on name + birth year: both stay put for life, while
        # addresses are written a dozen ways ("3栋501", "3-501") by different office spreadsheets.
        UniqueConstraint("community_id", "import_key"),
        Index("ix_elders_community_worker", "community_id", "worker_id"),
        Index("ix_elders_community_grid", "community_id", "grid_id"),
        Index("ix_elders_community_last_visit", "community_id", "last_visit_at"),
        Index("ix_elders_community_last_call", "community_id", "last_call_at"),
        one_of("risk", RISKS),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(50))
    birth_year: Mapped[int] = mapped_column(Integer)
    import_key: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    lives_alone: Mapped[bool] = mapped_column(Boolean)
    risk: Mapped[str] = mapped_column(String(8), default="normal")
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    emergency_contact: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The community worker responsible; None: every worker of the community is.
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by two "not at home" outcomes in a row, cleared by the next successful contact.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    not_home_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Anchors the first due date of an elder nobody has seen yet.
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The elder as a member of the community (a points account, family links), registered the
    # first time a worker links a family member to them.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    # The door card (QR check-in): its key is made at the first print; a reprint bumps the
    # generation, so the tokens of earlier cards stop working.
    card_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    card_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ElderVolunteer(Base):
    """A volunteer assigned to visit an elder."""

    __tablename__ = "elder_volunteers"

    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)


class VisitRecord(IdPk, Base):
    __tablename__ = "visit_records"
    __table_args__ = (
        Index("ix_visit_records_elder_at", "elder_id", "at"),
        Index("ix_visit_records_community_at", "community_id", "at"),
        one_of("kind", VISIT_KINDS),
        one_of("outcome", OUTCOMES),
        one_of("mood", MOODS),
        one_of("health", HEALTHS),
        one_of("need", NEEDS),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    photo: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # The pending 探访 service log a volunteer's visit made.
    service_log_id: Mapped[int | None] = mapped_column(ForeignKey("service_logs.id"), nullable=True)
    # The request that created it: a redelivered message records nothing new.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the record passed the retention (LOVEBANK_VISIT_RETENTION_YEARS): its note, photo
    # and place are gone; that the visit happened still counts.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Checked in by scanning the elder's door card: the volunteer was there.
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The wellbeing answers (None until answered) and the note for the next visitor.
    mood: Mapped[str | None] = mapped_column(String(8), nullable=True)
    health: Mapped[str | None] = mapped_column(String(8), nullable=True)
    need: Mapped[str | None] = mapped_column(String(8), nullable=True)
    next_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The service request a worker posted for the need, once (one tap).
    need_request_id: Mapped[int | None] = mapped_column(ForeignKey("service_requests.id"), nullable=True)


class VisitCheckin(IdPk, Base):
    """A scan of an elder's door card: who was there and when, completed into a visit record."""

    __tablename__ = "visit_checkins"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    generation: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit_records.id"), unique=True, nullable=True)
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)


class VisitAlert(IdPk, Base):
    """A "needs help" outcome, open until a worker or an admin acknowledges it."""

    __tablename__ = "visit_alerts"
    __table_args__ = (Index("ix_visit_alerts_open", "acknowledged_at", "raised_at"), one_of("reason", ALERT_REASONS))

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit_records.id"), unique=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # needs_help: the visit's outcome; wellbeing: a poor mood or a doctor needed, which waits for
    # a worker under the deadline rule (上不过午、下不过夜) until acknowledged.
    reason: Mapped[str] = mapped_column(String(16), default="needs_help", server_default="needs_help")
