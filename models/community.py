"""Communities (社区) and their grids (网格)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime


class Community(IdPk, Base):
    __tablename__ = "communities"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    # Whether a worker must confirm each new volunteer before they may log hours.
    confirm_volunteers: Mapped[bool] = mapped_column(Boolean, default=False)
    # Points expire this many months after they were earned; None keeps them forever.
    points_expire_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Per-community overrides (visit cadence, limits); kept small and optional.
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Grid(IdPk, Base):
    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class GridCoordinator(IdPk, Base):
    """A grid coordinator (网格员): a member who manages one grid of the community for the bank,
    and nothing outside it. One row per grid they coordinate."""

    __tablename__ = "grid_coordinators"
    __table_args__ = (
        UniqueConstraint("grid_id", "person_id"),
        Index("ix_grid_coordinators_person_community", "person_id", "community_id"),
        Index("ix_grid_coordinators_community_grid", "community_id", "grid_id"),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    appointed_at: Mapped[datetime] = mapped_column(UTCDateTime())
