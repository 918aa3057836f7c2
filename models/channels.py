"""What the channels keep in the database: one-time codes that link a second channel to a
person, platform access tokens shared by every process, files offered as download links, and an
index to find when a person last wrote."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime
from models.inbox import InboxEntry

# When a person last wrote on a channel is their newest inbox entry there: WeChat's 48-hour window,
# and which channel reaches a person who linked two.
Index("ix_inbox_sender_received", InboxEntry.channel, InboxEntry.sender, InboxEntry.received_at)


class LinkCode(IdPk, Base):
    """`/link` in one channel makes it; typed in another channel within 10 minutes, it joins
    that channel's identity to the same person. Used once."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(16), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # where it was made
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessToken(Base):
    """A platform's API token (WeChat's access_token), one per application: fetched by one
    process at a time (the one holding `refresh_until`) and read by all, since each fetch retires
    the previous token."""

    __tablename__ = "access_tokens"

    app: Mapped[str] = mapped_column(String(64), primary_key=True)  # "wechat:<app id>"
    token: Mapped[str | None] = mapped_column(String(512), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fetches: Mapped[int] = mapped_column(Integer, default=0)
    # Set while a process fetches a new token: the others wait for it, or take over once it passes.
    refresh_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Download(IdPk, Base):
    """A file for a person on a channel that cannot carry files (WeChat): served once asked for
    by its link, until it expires. Only the SHA-256 of the link's secret is stored."""

    __tablename__ = "downloads"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SendBudget(Base):
    """How many messages a platform still lets the bot push to one person (WeChat: 5 customer-
    service messages within 48 hours of their message, 3 within a minute of a menu click, a follow
    or a scan), counted here so every process spends from the same count. One row per kind of
    allowance; a new message or event opens its kind again."""

    __tablename__ = "send_budgets"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    allowed: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
