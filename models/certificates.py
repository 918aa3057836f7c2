"""Certificates of service hours (志愿服务证明): asked for by a volunteer (or issued by a worker for
a member without a phone), issued by a worker of the community, verifiable by anyone holding the
printed QR code, revocable with a reason."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdPk, UTCDateTime, one_of

CERTIFICATE_STATUSES = ("pending", "issued", "refused", "revoked")


class Certificate(IdPk, Base):
    """One row from the ask (C12, pending) to the issued certificate (its number). What it
    certifies is fixed at issue (names, hours, content, issuer), so a reprint and the
    verification page always show what was signed, whatever changes later."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_community_status", "community_id", "status"),
        one_of("status", CERTIFICATE_STATUSES),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # The service dates covered, both ends included; no start: every hour up to the end.
    period_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    # Fixed at issue: the approved service minutes in the period, and per category [[name, minutes]].
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # The holder's star level (0 none, 1 一星 … 5 五星) on their all-time service hours at issue.
    star_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    person_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The ID on record at issue, masked (1101**********123X); none on record: both None.
    id_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    issuer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    head_name: Mapped[str | None] = mapped_column(String(100), nullable=True)  # 负责人
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)  # 经办人
    handler_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # the community's date
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refuse_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CertificateKey(Base):
    """The deployment's key for the check value printed beside a certificate's number (an HMAC
    of the number): one row, made at random by the first issue. Kept in the database rather
    than derived from a setting, so every process agrees, nothing needs configuring, and
    rotating a bot token or webhook secret does not void printed certificates."""

    __tablename__ = "certificate_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
