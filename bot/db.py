"""Async engine, session factory and the unit of work services commit through."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

try:  # the greenlet bridge SQLAlchemy's own asyncio adapters use to await from sync code
    from sqlalchemy.util.concurrency import await_
except ImportError:  # SQLAlchemy 2.0 calls it await_only
    from sqlalchemy.util import await_only as await_

T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """`read_only` (SQLite): no transaction at all, so readers never take the write lock; with
    WAL each statement reads a committed snapshot while a writer works."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        return create_async_engine(url, **kwargs)

    # The pool's blanket ROLLBACK on return costs a trip to aiosqlite's thread per unit of work.
    # Readers run in autocommit (no BEGIN, nothing to roll back; each statement sees a committed
    # snapshot); writers roll back only when a transaction is really open (listener below).
    kwargs.setdefault("pool_reset_on_return", None)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below); the driver's implicit BEGIN is deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    if not read_only:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade
            # and the guarded balance updates are serialised across connections and processes.
            # Sent on the driver connection itself: one trip to aiosqlite's thread instead of
            # three (cursor, execute, close) and no statement execution machinery.
            try:
                await_(conn.connection.driver_connection.execute("BEGIN IMMEDIATE"))
            except sqlite3.OperationalError as exc:  # wrapped as SQLAlchemy would: a busy database is retried
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc

        @event.listens_for(engine.sync_engine, "reset")
        def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
            # A unit of work left without commit or rollback (a cancelled task) must not hand
            # the write lock to the next user of this connection.
            if not state.terminate_only and dbapi_connection.driver_connection.in_transaction:
                dbapi_connection.rollback()

    return engine


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.read_engine = make_engine(url, read_only=True, **engine_kwargs) if is_sqlite(url) else self.engine
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def read(self) -> UnitOfWork:
        """A unit of work for reading only; it is never committed."""
        return UnitOfWork(self._read_sessions)

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]], retries: int = 4) -> T:
        """Run `work` in one transaction and commit; rerun it when a concurrent writer won a
        unique key (the rerun then sees the winner's row and replays) or PostgreSQL reports a
        deadlock or serialisation failure."""
        for attempt in range(retries + 1):
            async with self.uow() as uow:
                try:
                    result = await work(uow.session)
                    await uow.commit()
                    return result
                except (IntegrityError, DBAPIError) as exc:
                    if attempt == retries or not _retryable(exc):
                        raise
            await asyncio.sleep(0.001 * (attempt + 1))
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


class UnitOfWork:
    """One session and one transaction; only services call commit, leaving rolls back."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # close() rolls back what was not committed; unlike rollback() it leaves the loaded
        # objects readable (detached), so plain values can be returned from the work.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
