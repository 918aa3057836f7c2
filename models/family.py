"""Family accounts (亲情账户), who acts for whom right now, and moves between communities (通存通兑)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, Points, UTCDateTime, one_of


class LinkStatus(StrEnum):
    # approval: a worker linked themselves and waits for another worker to approve.
    PENDING = "pending"
    APPROVAL = "approval"
    ACTIVE = "active"
    REMOVED = "removed"


class MoveStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DONE = "done"
    REJECTED = "rejected"


LINK_STATUSES = tuple(s.value for s in LinkStatus)
MOVE_STATUSES = tuple(s.value for s in MoveStatus)


class FamilyLink(IdPk, Base):
    """A member linked to a relative, with the relative's consent (a code they accept in their
    own chat) or a worker's confirmation (for a relative without a phone)."""

    __tablename__ = "family_links"
    __table_args__ = (
        Index("ix_family_links_pair", "member_id", "relative_id", "status"),
        one_of("status", LINK_STATUSES),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # None while the link waits for someone to accept the code.
    relative_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(8))
    code: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    # Set when the member was a worker of this community when linked: the link lasts only as
    # long as that role (a worker's own link ends with /unappoint).
    role_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ActingFor(Base):
    """The relative a member's chat acts for at the moment (`/as NAME`; `/as me` deletes it)."""

    __tablename__ = "acting_for"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    relative_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class CommunityMove(IdPk, Base):
    """A member moving to another community with their points: the old community's worker
    approves, the new community's worker accepts, and the points go through both communities'
    clearing accounts."""

    __tablename__ = "community_moves"
    __table_args__ = (Index("ix_community_moves_person", "person_id", "status"), one_of("status", MOVE_STATUSES))

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    from_community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    to_community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int | None] = mapped_column(Points, nullable=True)  # points moved, once done
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
