"""Platform access tokens shared by every process (WeChat's access_token).

WeChat allows 2,000 fetches a day and each fetch retires the previous token after 5 minutes, so
processes must not each fetch their own: the token lives in the database with its expiry, and one
process at a time refreshes it a few minutes before it expires while the others wait and then
read it. The one that fetches marks the row (`refresh_until`, a lease) in a short transaction,
calls the platform with no transaction open, and stores the token in another: an HTTP call never
holds a lock (on SQLite that would hold every write of the process). A lease left by a process
that died passes after LEASE. A token the platform rejected (40001, 42001) is refreshed once,
unless another process has already replaced it. Tokens are never logged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database, insert, reads
from models import AccessToken

MARGIN = timedelta(minutes=5)  # refresh this long before the platform's expiry
LEASE = timedelta(seconds=30)  # longer than a fetch may take (the WeChat client's timeouts)
POLL = 0.1  # seconds between looks while another process fetches

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # → (token, lifetime in seconds)
Token = tuple[str, datetime]


class TokenStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self._cached: dict[str, Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, token: str | None, expires_at: datetime | None, rejected: str | None) -> bool:
        return bool(token) and token != rejected and expires_at is not None and expires_at - self.clock.now() > MARGIN

    async def get(self, app: str, fetch: Fetch, *, rejected: str | None = None) -> str:
        """The current token for `app`; fetched (by one process, once) only when none is fresh or
        the fresh one is `rejected`."""
        cached = self._cached.get(app)
        if cached and self._fresh(*cached, rejected):
            return cached[0]
        async with self._locks.setdefault(app, asyncio.Lock()):  # this process's callers: one asks
            cached = self._cached.get(app)
            if cached and self._fresh(*cached, rejected):
                return cached[0]
            stored = await self.db.run_read(self._stored, app, rejected)
            while stored is None:
                claimed = await self.db.run(self.db.transaction, lambda session: self._claim(session, app, rejected))
                if isinstance(claimed, tuple):
                    stored = claimed  # another process stored a fresh one meanwhile
                elif claimed:
                    stored = await self._fetch(app, fetch)
                else:
                    await asyncio.sleep(POLL)  # another process is fetching
                    stored = await self.db.run_read(self._stored, app, rejected)
            self._cached[app] = stored
            return stored[0]

    async def _fetch(self, app: str, fetch: Fetch) -> Token:
        try:
            token, lifetime = await fetch()
        except BaseException:
            await self.db.run(self.db.transaction, lambda session: self._release(session, app))
            raise
        return await self.db.run(self.db.transaction, lambda session: self._store(session, app, token, lifetime))

    def _stored(self, app: str, rejected: str | None) -> Token | None:
        with self.db.read() as session:
            row = session.get(AccessToken, app)
            if row is not None and self._fresh(row.token, row.expires_at, rejected):
                return row.token, row.expires_at  # type: ignore[return-value]
        return None

    def _locked(self, session: Session, app: str) -> AccessToken:
        session.execute(insert(session, AccessToken).values(app=app, fetches=0).on_conflict_do_nothing())
        row = session.scalar(
            select(AccessToken)
            .where(AccessToken.app == app)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    def _claim(self, session: Session, app: str, rejected: str | None) -> Token | bool:
        """A fresh token if there is one now; else True when this process may fetch (the lease is
        taken), False when another holds the lease."""
        row, now = self._locked(session, app), self.clock.now()
        if self._fresh(row.token, row.expires_at, rejected):
            return row.token, row.expires_at  # type: ignore[return-value]
        if row.refresh_until is not None and row.refresh_until > now:
            return False
        row.refresh_until = now + LEASE
        return True

    def _store(self, session: Session, app: str, token: str, lifetime: int) -> Token:
        row, now = self._locked(session, app), self.clock.now()
        row.token, row.expires_at, row.fetched_at = token, now + timedelta(seconds=lifetime), now
        row.fetches, row.refresh_until = (row.fetches or 0) + 1, None
        return token, row.expires_at

    def _release(self, session: Session, app: str) -> None:
        self._locked(session, app).refresh_until = None

    @reads
    def fetches(self, app: str) -> int:
        """How many times the token was fetched (for operators and tests)."""
        with self.db.read() as session:
            return session.scalar(select(AccessToken.fetches).where(AccessToken.app == app)) or 0
