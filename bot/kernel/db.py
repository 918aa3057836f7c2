"""Engine, sessions and the one hand-off between the async adapters and the synchronous services.

Services are plain synchronous SQLAlchemy code. An adapter hands a whole unit of work to a
database thread once (`await db.run(services.hours.approve, ...)`, or a dialog turn: `db.run(
db.unit, turn)`). SQLite: one writer thread with its own connection, and reader threads (WAL);
PostgreSQL: psycopg 3 with a pool and a thread per connection.

A unit of work (`Database.unit`) is one session and one transaction on the thread that runs it:
every `transaction`, `uow` and `read` a service opens inside it joins it, nothing inside commits,
and the unit commits once at its end. A refusal inside (a service raising, the turn answering it)
may leave that service's writes half done: the unit is then run again with every joined
`transaction` in a savepoint, so a refusal undoes only its own writes. Outside a unit, each
`transaction` is its own unit, as before."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
P = ParamSpec("P")
PG_POOL = 10
log = logging.getLogger(__name__)


@dataclass
class _Unit:
    """The unit of work open on this thread: its database, session, and whether it may write."""

    db: Database
    session: Session
    writes: bool
    savepoints: bool = False  # each joined transaction in a savepoint (after a refusal, see `unit`)
    refused: bool = False  # a joined transaction raised: its writes may be half done


# Set only on a database thread while `Database.unit` runs there.
_current: ContextVar[_Unit | None] = ContextVar("lovebank_unit", default=None)


class ReadOnlyTurn(RuntimeError):
    """A unit declared read-only tried to write."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sync_url(url: str) -> str:
    """The URL with the synchronous driver; the async driver names operators already configured
    (`sqlite+aiosqlite`, `postgresql+asyncpg`) keep working."""
    scheme, sep, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        return f"sqlite+pysqlite{sep}{rest}"
    if scheme.startswith("postgresql"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """`read_only` (SQLite): no transaction at all, so readers never take the write lock; with
    WAL each statement reads a committed snapshot while the writer works. The writer never
    copies the WAL back into the database file itself: `Checkpoints` does, on its own thread."""
    url = sync_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", PG_POOL)
        kwargs.setdefault("max_overflow", 0)
        return create_engine(url, **kwargs)

    # Readers run in autocommit (nothing to roll back); the writer rolls back only when a
    # transaction is really open (listener below), so returning a connection costs nothing.
    kwargs.setdefault("pool_reset_on_return", None)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: we issue BEGIN ourselves (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        pragmas = ["journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"]
        if read_only:  # a stray write on a reader (autocommit: it would stick) fails instead
            pragmas.append("query_only=ON")
        else:
            pragmas.append("wal_autocheckpoint=0")
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    if not read_only:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so two writers (another process) never
            # deadlock on upgrade and the guarded balance updates are serialised.
            try:
                conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # wrapped as SQLAlchemy would: a busy database is retried
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc

        @event.listens_for(engine, "reset")
        def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
            # A unit of work left without commit or rollback must not hand the write lock on.
            if not state.terminate_only and dbapi_connection.in_transaction:
                dbapi_connection.rollback()

    return engine


class Checkpoints:
    """SQLite: the WAL is copied back into the database file on a thread of its own, every
    `EVERY` commits. Left to SQLite, the commit that crosses its threshold does it, and that
    turn waits: 5-15 ms instead of 0.1 (bench updates: 42-43 commits in 5,100 over 2 ms; 3-5 here).
    A passive checkpoint never holds the writer up; what it cannot copy yet (a reader still on
    older pages) the next one does. Its connection is closed after each, so the last connection
    to close still folds the WAL into the file."""

    EVERY = 100

    def __init__(self, path: str) -> None:
        self.path = path
        self._due = self.EVERY
        self._running: Future[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="db-checkpoint")

    def committed(self, _connection: Any = None) -> None:
        """The writer commits (its engine's `commit` event)."""
        self._due -= 1
        if self._due <= 0 and (self._running is None or self._running.done()):
            self._due = self.EVERY
            self._running = self._thread.submit(self.checkpoint)

    def checkpoint(self) -> None:
        try:
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as connection:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or away: the next one tries again
            log.warning("SQLite checkpoint skipped: %s", exc)

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def insert(session: Session, table: Any) -> Any:
    """INSERT for the session's dialect, with its ON CONFLICT clauses."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def claim(session: Session, job_name: str, scope: str, period: str, now: datetime) -> bool:
    """True when this call is the first to run `job_name` for `scope` in `period`: the claim
    commits with the job's effects, so a restart or a second process never repeats a period."""
    from models import JobRun

    inserted = session.scalar(
        insert(session, JobRun)
        .values(job=job_name, scope=scope, period=period, started_at=now)
        .on_conflict_do_nothing()
        .returning(JobRun.id)
    )
    return inserted is not None


def reads(method: Callable[..., T]) -> Callable[..., T]:
    """Marks a service method that only reads: on SQLite it runs on a reader thread, beside the
    writer."""
    method.reads = True  # type: ignore[attr-defined]
    return method


class Database:
    """Owns the engines, hands out units of work, and runs service calls on its threads."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.checkpoints: Checkpoints | None = None
        if self.sqlite:
            self.read_engine = make_engine(url, read_only=True, **engine_kwargs)
            path = self.engine.url.database
            if path and path != ":memory:":
                self.checkpoints = Checkpoints(path)
                event.listen(self.engine, "commit", self.checkpoints.committed)  # every commit of the writer
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-writer")
            self._readers = ThreadPoolExecutor(2, thread_name_prefix="db-reader")
        else:
            # Reads in autocommit: no BEGIN and ROLLBACK around them (two round trips a read);
            # each statement sees what is committed, as SQLite's readers do.
            self.read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self._writer = self._readers = ThreadPoolExecutor(self.engine.pool.size(), thread_name_prefix="db")  # type: ignore[attr-defined]
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """The one hand-off: `fn` (synchronous, its whole unit of work) runs on a database thread;
        a method marked `@reads` on a reader thread (SQLite), beside the writer."""
        call = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        pool = self._readers if getattr(fn, "reads", False) else self._writer
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    async def run_read(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`run` on a reader thread, for a function that only reads and is not marked `@reads`."""
        call = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        return await asyncio.get_running_loop().run_in_executor(self._readers, call)

    def _joined(self) -> _Unit | None:
        unit = _current.get()
        return unit if unit is not None and unit.db is self else None

    @contextmanager
    def uow(self) -> Iterator[Session]:
        """One session and one transaction; only services commit, leaving rolls back. Loaded
        objects stay readable (detached) after it, so plain values can be returned. Inside a
        unit of work: that unit's session."""
        unit = self._joined()
        if unit is not None:
            yield unit.session
            return
        with self.sessions() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; it is never committed. Inside a unit of work: that unit's
        session, so a turn reads what it wrote."""
        unit = self._joined()
        if unit is not None:
            yield unit.session
            return
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A session for several reads that must see one moment (the shop's reconciliation: a
        redemption committed between them would show as a mismatch). SQLite's transactions
        already serialise (BEGIN IMMEDIATE): `uow`, joining a unit of work. PostgreSQL needs
        REPEATABLE READ, which a unit's transaction (already reading at READ COMMITTED) cannot
        take: a session of its own, only for reading, even inside a unit."""
        if self.sqlite:
            with self.uow() as session:
                yield session
            return
        with self.sessions() as session:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    def transaction(self, work: Callable[[Session], T], retries: int = 4) -> T:
        """Run `work` in one transaction and commit; rerun it when a concurrent writer won a
        unique key (the rerun then sees the winner's row and replays) or PostgreSQL reports a
        deadlock or serialisation failure. Inside a unit of work `work` joins the unit's
        transaction and nothing commits (the unit retries as a whole; see `unit` for refusals)."""
        unit = self._joined()
        if unit is not None:
            if not unit.writes:
                raise ReadOnlyTurn("a unit of work declared read-only tried to write")
            if unit.savepoints:
                with unit.session.begin_nested():
                    return work(unit.session)
            try:
                return work(unit.session)
            except Exception:
                unit.refused = True
                raise
        return self.unit(work, retries=retries)

    def unit(self, work: Callable[[Session], T], *, retries: int = 4, writes: bool = True) -> T:
        """Run `work` as one unit of work on this thread (a database thread: hand it over with
        `run`): one session, one transaction that every service call inside joins, one commit.
        It commits whole or not at all, and is rerun whole on a retryable conflict, as
        `transaction` is. `writes=False` (a read-only turn): a reader session, never committed;
        a write inside raises `ReadOnlyTurn`."""
        if self._joined() is not None:  # already inside one: join it
            return work(_current.get().session)  # type: ignore[union-attr]  # checked just above
        if not writes:
            return self._read_unit(work)
        savepoints = False
        for attempt in range(retries + 2):
            with self.sessions() as session:
                unit = _Unit(self, session, True, savepoints)
                token = _current.set(unit)
                try:
                    result = work(session)
                    if unit.refused and not savepoints:
                        # A service refused midway and the unit went on (a turn answers the
                        # refusal): its writes may be half done. Rare, so only then is the unit
                        # run again with each service call in a savepoint, undone on its own.
                        session.rollback()
                        savepoints = True
                        continue
                    session.commit()
                    return result
                except (IntegrityError, DBAPIError) as exc:
                    if attempt >= retries or not _retryable(exc):
                        raise
                finally:
                    _current.reset(token)
            time.sleep(0.001 * (attempt + 1))
        raise AssertionError("unreachable")

    def _read_unit(self, work: Callable[[Session], T]) -> T:
        with self._read_sessions() as session:
            token = _current.set(_Unit(self, session, False))
            try:
                return work(session)
            except OperationalError as exc:
                if "readonly" in str(exc.orig):
                    raise ReadOnlyTurn("a unit of work declared read-only tried to write") from exc
                raise
            finally:
                _current.reset(token)

    async def dispose(self) -> None:
        await self.run(self._dispose)
        for executor in {self._writer, self._readers}:
            executor.shutdown(wait=False)

    def _dispose(self) -> None:
        self.engine.dispose()
        if self.sqlite:  # PostgreSQL's reader shares the writer's pool
            self.read_engine.dispose()
        if self.checkpoints is not None:
            self.checkpoints.close()


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE matched. `Session.execute` is typed as returning a
    `Result`; for these statements it is the driver's `CursorResult`, the one that knows the count."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} has no row count")
    return result.rowcount
