"""The worker's desk and the members' pages (`lovebank serve` under /desk/): the one-time login
links `/desk` and `/my` hand out in the chat, and the sessions they open. Only the SHA-256 of a
link's or a session's secret is stored, so the database alone logs no one in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of


class DeskLogin(IdPk, Base):
    """A login link (kind "link": 10 minutes, used once) or the session it opened (kind
    "session": 8 hours). Both are bound to the person, the identity that asked and the community
    they were in; a page re-checks the person's role there on every request."""

    __tablename__ = "desk_logins"
    __table_args__ = (one_of("kind", ("link", "session")),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    target: Mapped[str] = mapped_column(String(16))  # the page a link opens: "desk" or "my"
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
