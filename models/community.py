"""Communities (社区) and their grids (网格)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
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
