"""Freshness and once-only for signed webhook requests (WeChat's timestamp and nonce).

A platform's signature over (token, timestamp, nonce) proves the request was made by the platform
once, not that it is being made now: a logged URL can be sent again. So a request's timestamp
must be within `window` seconds of our clock, and its (timestamp, nonce) pair is taken once, in
the database, so that every process refuses what another one took. A pair is kept only while its
timestamp could still pass as fresh; older rows are pruned now and then."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database, insert
from models import WebhookNonce

PRUNE_EVERY = 60.0  # seconds between prunes in one process
MAX_NONCE = 64


class ReplayGuard:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self._pruned_at = 0.0

    def stamp(self, timestamp: str | None, window: int) -> int | None:
        """The request's timestamp as a number when it is within `window` seconds of now."""
        text = (timestamp or "").strip()
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            return None
        stamp = int(text)
        return stamp if abs(self.clock.now().timestamp() - stamp) <= window else None

    def take(self, channel: str, stamp: int, nonce: str, window: int) -> bool:
        """True the first time (channel, stamp, nonce) is taken; False for a replay."""
        if not nonce or len(nonce) > MAX_NONCE:
            return False

        def work(session: Session) -> bool:
            now = self.clock.now().timestamp()
            if now - self._pruned_at > PRUNE_EVERY:
                self._pruned_at = now
                session.execute(
                    delete(WebhookNonce).where(
                        WebhookNonce.channel == channel, WebhookNonce.timestamp < int(now) - window - 1
                    )
                )
            taken = session.scalar(
                insert(session, WebhookNonce)
                .values(channel=channel, timestamp=stamp, nonce=nonce)
                .on_conflict_do_nothing()
                .returning(WebhookNonce.nonce)
            )
            return taken is not None

        return self.db.transaction(work)

    def give_back(self, channel: str, stamp: int, nonce: str) -> None:
        """The request was not taken in after all (the database failed later): the platform's
        retry of it may come with the same pair."""
        self.db.transaction(
            lambda session: session.execute(
                delete(WebhookNonce).where(
                    WebhookNonce.channel == channel, WebhookNonce.timestamp == stamp, WebhookNonce.nonce == nonce
                )
            )
        )
