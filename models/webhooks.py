"""What the webhooks keep to refuse a replayed request."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class WebhookNonce(Base):
    """A (timestamp, nonce) a platform signed and we accepted: the same pair again is a replay.
    Kept only while its timestamp is within the freshness window (older ones are refused as
    stale anyway), so every process refuses what another one took."""

    __tablename__ = "webhook_nonces"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the platform's, epoch seconds
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
