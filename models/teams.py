"""Member tags (党员, 青年, 以老助老 …) and volunteer teams (志愿服务队) with their leaders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime


class PersonTag(IdPk, Base):
    """A tag a worker gave a member. Tags are personal: the member appears on the tag's star
    list only after agreeing to (`shown`), and may withdraw that at any time."""

    __tablename__ = "person_tags"
    __table_args__ = (
        UniqueConstraint("community_id", "person_id", "tag"),
        Index("ix_person_tags_community_tag", "community_id", "tag"),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    tag: Mapped[str] = mapped_column(String(32))
    shown: Mapped[bool] = mapped_column(Boolean, default=False)
    tagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Team(IdPk, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamMember(IdPk, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "person_id"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
