"""Service requests (积分换服务): a neighbour asks for a service and pays in points.

A request has a requester (the person it is for) and a poster (who typed it: the requester, a
linked family member or a worker), so every action records both people."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, Points, UTCDateTime, one_of

# own: the requester's points, held at once; pool: the community pool, held when a worker
# approves; community: paid as logged hours are (issuance, after a worker approves the log).
PAYERS = ("own", "pool", "community")
SLOTS = ("morning", "noon", "afternoon", "evening", "any")


# approval: waits for a worker to fund it from the pool; open: anyone may take it; taken;
# done: the volunteer says it is done and waits for the requester; disputed: a worker settles;
# paid: closed and paid; confirmed: done and confirmed, the community pays through the linked
# log's approval; cancelled, expired, refused (pool not granted), voided (settled as
# not done) close it without paying.
class RequestStatus(StrEnum):
    APPROVAL = "approval"
    OPEN = "open"
    TAKEN = "taken"
    DONE = "done"
    DISPUTED = "disputed"
    PAID = "paid"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUSED = "refused"
    VOIDED = "voided"


REQUEST_STATUSES = tuple(s.value for s in RequestStatus)


class ServiceRequest(IdPk, Base):
    __tablename__ = "service_requests"
    __table_args__ = (
        # /requests: a community's open requests, newest first, optionally by category or grid.
        Index("ix_service_requests_board", "community_id", "status", "id"),
        Index("ix_service_requests_board_category", "community_id", "status", "category_id", "id"),
        Index("ix_service_requests_board_grid", "community_id", "status", "grid_id", "id"),
        Index("ix_service_requests_taker", "taker_id", "status"),
        Index("ix_service_requests_requester", "requester_id", "id"),
        one_of("slot", SLOTS),
        one_of("payer", PAYERS),
        one_of("status", REQUEST_STATUSES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    poster_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"))
    service_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(16))
    minutes: Mapped[int] = mapped_column(Integer)  # the estimate
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)
    # Seen only by the volunteer who takes it and by workers.
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payer: Mapped[str] = mapped_column(String(16))
    # Rate fixed when posted; `held` is what the hold reserves (0 when the community pays).
    points_per_hour: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Points, default=0)
    status: Mapped[str] = mapped_column(String(16))
    hold_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), nullable=True)
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Both must agree before either sees the other's phone.
    requester_shares_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    taker_shares_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    # The pool's decision (a worker grants or refuses it) and when a dispute came in: both are
    # things that wait for a worker, so their times count for decisions on time.
    pool_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    pool_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid: Mapped[int | None] = mapped_column(Points, nullable=True)  # points the volunteer received
    service_log_id: Mapped[int | None] = mapped_column(ForeignKey("service_logs.id"), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    # A worker who confirmed the work for the requester (own points): it is paid only when a
    # second, different worker approves; the request stays "done" meanwhile.
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The request that created it (update id, dialog draft): a redelivery creates nothing new.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
