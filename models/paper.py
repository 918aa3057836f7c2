"""Printed event sign-in sheets (签到表): the names expected at an event, and a signed QR code a
worker scans afterwards to record the hours of everyone who came, once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of


class SheetStatus(StrEnum):
    PRINTED = "printed"  # on paper, its hours not yet recorded
    RECORDED = "recorded"  # its hours were recorded: the QR code is spent


SHEET_STATUSES = tuple(s.value for s in SheetStatus)


class EventSheet(IdPk, Base):
    __tablename__ = "event_sheets"
    __table_args__ = (
        one_of("status", SHEET_STATUSES),
        Index("ix_event_sheets_community_status", "community_id", "status"),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(50))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    # The people printed on the sheet, in its rows' order (person ids): fixed when printed, so
    # row 3 on paper is row 3 in the chat whoever joins or leaves meanwhile.
    people: Mapped[list] = mapped_column(JSON, default=list)
    # Random, never shown: what the QR code's signature covers besides the sheet's number, so a
    # code cannot be made for a sheet from its number alone.
    nonce: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=SheetStatus.PRINTED)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
