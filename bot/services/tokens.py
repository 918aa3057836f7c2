"""Platform access tokens shared by every process (WeChat's access_token).

WeChat allows 2,000 fetches a day and each fetch retires the previous token after 5 minutes, so
processes must not each fetch their own: the token lives in the database with its expiry, one
process refreshes it under a row lock (SQLite: the write lock) a few minutes before it expires,
and the others read it. A token the platform rejected (40001, 42001) is refreshed once, unless
another process has already replaced it. Tokens are never logged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Database, insert, reads
from models import AccessToken

MARGIN = timedelta(minutes=5)  # refresh this long before the platform's expiry

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # → (token, lifetime in seconds)


class TokenStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self._cached: dict[str, tuple[str, datetime]] = {}

    def _fresh(self, token: str | None, expires_at: datetime | None, rejected: str | None) -> bool:
        return bool(token) and token != rejected and expires_at is not None and expires_at - self.clock.now() > MARGIN

    async def get(self, app: str, fetch: Fetch, *, rejected: str | None = None) -> str:
        """The current token for `app`; fetched (by this process, once, under the lock) only when
        none is fresh or the fresh one is `rejected`."""
        cached = self._cached.get(app)
        if cached and self._fresh(cached[0], cached[1], rejected):
            return cached[0]
        stored = await self.db.run(self._stored, app, rejected, reads=True)
        if stored is None:
            # The fetch is an HTTP call of the async side; the database thread waits for it while
            # it holds the lock, so no other process fetches meanwhile.
            loop = asyncio.get_running_loop()

            def fetched() -> tuple[str, int]:
                return asyncio.run_coroutine_threadsafe(fetch(), loop).result()

            stored = await self.db.run(self.db.transaction, lambda session: self._refresh(session, app, rejected, fetched),
                                       retries=1)
        self._cached[app] = stored
        return stored[0]

    def _stored(self, app: str, rejected: str | None) -> tuple[str, datetime] | None:
        with self.db.read() as session:
            row = session.get(AccessToken, app)
            if row is not None and self._fresh(row.token, row.expires_at, rejected):
                return row.token, row.expires_at  # type: ignore[return-value]
        return None

    def _refresh(self, session: Session, app: str, rejected: str | None,
                 fetch: Callable[[], tuple[str, int]]) -> tuple[str, datetime]:
        session.execute(insert(session, AccessToken).values(app=app, fetches=0).on_conflict_do_nothing())
        locked = session.scalar(
            select(AccessToken).where(AccessToken.app == app).with_for_update().execution_options(populate_existing=True)
        )
        assert locked is not None
        if self._fresh(locked.token, locked.expires_at, rejected):
            return locked.token, locked.expires_at  # type: ignore[return-value]  # another process refreshed it
        token, lifetime = fetch()
        now = self.clock.now()
        locked.token, locked.expires_at, locked.fetched_at = token, now + timedelta(seconds=lifetime), now
        locked.fetches = (locked.fetches or 0) + 1
        return token, locked.expires_at

    @reads
    def fetches(self, app: str) -> int:
        """How many times the token was fetched (for operators and tests)."""
        with self.db.read() as session:
            return session.scalar(select(AccessToken.fetches).where(AccessToken.app == app)) or 0
