"""A database that cannot be used, said in one line an operator can act on (never a traceback).

Connecting and migrating fail in a handful of ways that have nothing to do with the bot: the
PostgreSQL database was never created, the server is not running, the SQLite file's folder does
not exist or is not writable, another program holds the SQLite file locked for longer than the
busy timeout, or the schema is newer than this release (a rollback without restoring the backup);
or, later, while a chat turn writes, the database is read-only or the disk is full (the turn's
transaction is rolled back whole). Each becomes a catalogue message in the operator's language."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import make_url

from bot.kernel.i18n import Text

BUSY_TIMEOUT_SECONDS = 30  # the SQLite busy timeout set on every connection (bot/kernel/db.py)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's .orig) and what caused it."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (getattr(current, "orig", None), current.__cause__, current.__context__) if e)


def database_problem(exc: BaseException, url: str) -> Text | None:
    """The message for `exc` if it is one of the ways a database cannot be used, else None."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by the settings already
        return None
    for error in _chain(exc):
        name, text = type(error).__name__, str(error)
        if name == "InvalidCatalogNameError" or ("does not exist" in text and "database" in text):
            return Text(
                "cli.db_missing",
                {
                    "database": parsed.database or "",
                    "host": parsed.host or "127.0.0.1",
                    "port": parsed.port or 5432,
                    "user": parsed.username or "postgres",
                },
            )
        if (
            isinstance(error, (ConnectionRefusedError, TimeoutError))
            or name
            in (
                "CannotConnectNowError",
                "ConnectionDoesNotExistError",
            )
            or "Connect call failed" in text
            or "could not connect" in text
            or "Connection refused" in text
        ):
            return Text("cli.db_down", {"host": parsed.host or "127.0.0.1", "port": parsed.port or 5432})
        if "unable to open database file" in text:
            return Text("cli.sqlite_unopenable", {"path": parsed.database or ""})
        if "database is locked" in text:
            return Text("cli.db_locked", {"path": parsed.database or "", "seconds": BUSY_TIMEOUT_SECONDS})
        if (
            "readonly database" in text
            or "read-only transaction" in text
            or name
            in (
                "ReadOnlySqlTransaction",
                "ReadOnlySQLTransactionError",
            )
        ):
            return Text("cli.db_read_only", {"database": _where(parsed)})
        if (
            "database or disk is full" in text
            or "No space left on device" in text
            or name
            in (
                "DiskFull",
                "DiskFullError",
            )
            or (isinstance(error, OSError) and error.errno == errno.ENOSPC)
        ):
            return Text("cli.disk_full", {"database": _where(parsed)})
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError") or (
            "authentication failed" in text
        ):
            return Text("cli.db_refused", {"user": parsed.username or "", "host": parsed.host or ""})
        newer = re.match(r"Can't locate revision identified by '([^']+)'", text)
        if name == "CommandError" and newer:  # an older release started on a newer schema (a rollback)
            return Text("cli.schema_newer", {"revision": newer[1]})
    return None


def _where(parsed: Any) -> str:
    """The SQLite file, or the PostgreSQL database and its server."""
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ""
    return f"{parsed.database or ''} ({parsed.host or '127.0.0.1'}:{parsed.port or 5432})"
