"""People, their channel identities, community roles and invite codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

ROLES = ("resident", "volunteer", "worker")


class Person(IdPk, Base):
    __tablename__ = "people"
    # The desk's People search: a name's beginning is one range of an index.
    __table_args__ = (
        Index("ix_people_display_name", "display_name"),
        Index("ix_people_real_name", "real_name"),
    )

    display_name: Mapped[str] = mapped_column(String(100))
    real_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown as an anonymous volunteer on the star list.
    hide_name: Mapped[bool] = mapped_column(Boolean, default=False)
    # The community the person acts in now (the last one joined or switched to).
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the person was forgotten (/forget): the row stays for the ledger, nameless.
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Identity(IdPk, Base):
    """A channel account (Telegram user id, WeChat openid, console name) of a person."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # Where to reach the person on this channel (Telegram private chat id); defaults to external_id.
    chat_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    handle: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Set when the platform refuses to deliver (the person blocked the bot); their
    # notifications wait on this channel until they write to us again.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Membership(IdPk, Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("person_id", "community_id"),
        one_of("role", ROLES),
        Index("ix_memberships_community_grid", "community_id", "grid_id"),
    )

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # False while a volunteer waits for a worker's confirmation.
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set while a worker is on leave (/away): no nudges, and what waits for them alone is not
    # reported to the admins as late.
    away_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The grid (网格) of the community the member lives in; None until placed.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), nullable=True)


class InviteCode(IdPk, Base):
    __tablename__ = "invite_codes"
    __table_args__ = (one_of("role", ROLES),)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
