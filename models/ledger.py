"""Points accounts and immutable transfers, after TigerBeetle's two-phase model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, Points, UTCDateTime, one_of

# Person accounts hold a member's points; the others are per-community system accounts.
# A clearing account per community settles moves and gifts with the district's other communities;
# services is where service requests' holds post before the volunteer is paid.
ACCOUNT_KINDS = ("person", "issuance", "supermarket", "adjustments", "expiry", "pool", "clearing", "services")
# A single-phase transfer posts at once; a pending one is a hold that exactly one
# post / void / expire transfer later resolves (pending_id points at the hold).
PHASES = ("posted", "pending", "post", "void", "expire")


class Account(IdPk, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("community_id", "kind", "person_id"), one_of("kind", ACCOUNT_KINDS))

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Cached sums of the account's transfers: posted = credits - debits that have posted;
    # pending = outgoing holds not yet resolved. Person accounts keep posted - pending >= 0.
    posted: Mapped[int] = mapped_column(Points, default=0)
    pending: Mapped[int] = mapped_column(Points, default=0)
    # Lifetime totals shown by /balance, kept as they change so a balance never sums a history:
    # posted 'earn' transfers credited here, and (person accounts) minutes of the person's
    # approved service logs in this community.
    earned_points: Mapped[int] = mapped_column(Points, default=0, server_default="0")
    earned_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Transfer(IdPk, Base):
    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_debit", "debit_account_id", "id"),
        Index("ix_transfers_credit", "credit_account_id", "id"),
        Index("ix_transfers_ref", "ref_type", "ref_id"),
        one_of("phase", PHASES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(Points)
    # Business meaning: earn, redeem, adjust, gift, donate, expire_points, move, reversal.
    kind: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(8))
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True, nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    ref_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ref_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
