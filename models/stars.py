"""Announcement groups for the star list, and the indexes the star list and the monthly report
read through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime
from models.hours import ServiceLog
from models.ledger import Transfer


class AnnouncementGroup(IdPk, Base):
    """A group chat where a community's weekly and monthly star lists are posted. A chat
    announces for one community; a community may have several groups."""

    __tablename__ = "announcement_groups"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="telegram")
    chat_id: Mapped[str] = mapped_column(String(64))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The star list's grouped sums (community, approved → person, minutes) are answered from these
# indexes alone: a week or a month is a date range of the first; all time reads the second in
# person order, so the sums stream out without a sort. One /top stays within a few milliseconds
# at 200,000 logs.
Index(
    "ix_service_logs_stars",
    ServiceLog.community_id,
    ServiceLog.status,
    ServiceLog.service_date,
    ServiceLog.person_id,
    ServiceLog.minutes,
)
Index(
    "ix_service_logs_stars_person",
    ServiceLog.community_id,
    ServiceLog.status,
    ServiceLog.person_id,
    ServiceLog.service_date,
    ServiceLog.minutes,
)
# The monthly report reads one community's transfers up to a month's end.
Index("ix_transfers_community_created", Transfer.community_id, Transfer.created_at)
