"""The love supermarket (爱心超市): catalogue items, redemptions and the stock movements that
make the monthly reconciliation (账物相符) a sum rather than a guess."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, Points, UTCDateTime, one_of


class RedemptionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DONE = "done"


REDEMPTION_STATUSES = tuple(s.value for s in RedemptionStatus)
# restock: goods put on (or, negative, written off) the shelf; reserve: taken off the shelf for
# a redemption; release: put back when it is rejected, cancelled or expires; handover: the
# reserved goods leave with the person (no change to the shelf, delta 0).
MOVEMENT_KINDS = ("restock", "reserve", "release", "handover")


class ShopItem(IdPk, Base):
    __tablename__ = "shop_items"
    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        Index("ix_shop_items_community_active", "community_id", "active"),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[int] = mapped_column(Points)
    # Goods on the shelf; None for services with no limit (haircuts, repairs).
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    photo: Mapped[str | None] = mapped_column(String(256), nullable=True)
    donor: Mapped[str | None] = mapped_column(String(100), nullable=True)  # 爱心企业
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Redemption(IdPk, Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        # Codes are typed at the counter of one community; unique there is what matters.
        UniqueConstraint("community_id", "pickup_code"),
        Index("ix_redemptions_community_status", "community_id", "status"),
        Index("ix_redemptions_person", "person_id", "id"),
        one_of("status", REDEMPTION_STATUSES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # The family member who redeemed for the person (亲情账户); they get the pickup code.
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("shop_items.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    # Price fixed when redeemed, so a later price change does not touch open redemptions.
    unit_price: Mapped[int] = mapped_column(Points)
    total: Mapped[int] = mapped_column(Points)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    hold_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), nullable=True)
    pickup_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # The request that created it (update id, dialog draft): a redelivery creates nothing new.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    handed_over_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StockMovement(IdPk, Base):
    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_item_time", "item_id", "created_at"), one_of("kind", MOVEMENT_KINDS))

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("shop_items.id"))
    kind: Mapped[str] = mapped_column(String(16))
    # Change to the shelf stock (restock ±, reserve −, release +, handover 0) ...
    delta: Mapped[int] = mapped_column(Integer)
    # ... and how many goods moved, always positive (a write-off is a restock of −n: quantity n).
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemptions.id"), nullable=True)
    # A redelivered restock request adds nothing twice.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
