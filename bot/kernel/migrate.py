"""Alembic from inside the app: every command that needs the database migrates first.

Alembic itself (a quarter of a second to import) is loaded only when the schema is behind: the
usual start finds the database at every head with one cheap query and goes on."""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from bot.kernel.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]  # the project: bot/kernel/ → bot/ → here
VERSIONS = ROOT / "migrations" / "versions"
MIGRATION_LOCK = 0x4C6F7666
VERSION_TABLE = "alembic_version"
# A migration script's own identity lines (at the start of a line, so never code inside a function).
_IDENTITY = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The migration tree's heads, read from the scripts' `revision` and `down_revision` lines:
    every revision that no other revision names as its parent."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(VERSIONS.glob("*.py")):
        found = {name: ast.literal_eval(value) for name, value in _IDENTITY.findall(script.read_text("utf-8"))}
        if not isinstance(found.get("revision"), str):
            raise RuntimeError(f"migration {script.name} has no `revision = '...'` line")  # noqa: TRY004 - a broken file, not a wrong type
        revisions.add(found["revision"])
        down = found.get("down_revision")
        parents.update((down,) if isinstance(down, str) else down or ())
    if not revisions:  # no scripts found: never take an empty set of heads for "up to date"
        raise RuntimeError(f"no migration scripts in {VERSIONS}")
    return frozenset(revisions - parents)


def current_revisions(connection: Connection) -> frozenset[str]:
    """What the database says it is at (nothing for a database never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def is_current(url: str) -> bool:
    # The read-only engine: on SQLite the check takes no write lock, so it never waits for a writer.
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as connection:
            return current_revisions(connection) == head_revisions()
    finally:
        engine.dispose()


def upgrade_sync(url: str, engine: Engine | None = None) -> None:
    """Upgrade to every head: feature branches of the migration tree all apply."""
    if is_current(url):
        return
    from alembic import command

    own = engine is None
    engine = engine or make_engine(url)
    config = alembic_config(url)
    try:
        with engine.connect() as connection, foreign_keys_off(connection), connection.begin():
            if connection.dialect.name == "postgresql":
                # Several processes starting at once: one migrates, the others wait and find it done.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
            check_foreign_keys(connection)
    finally:
        if own:
            engine.dispose()


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: batch mode rebuilds a table by copying it and dropping the old one, which breaks
    the foreign keys of rows pointing at it until the copy takes its name; so the keys are off
    while migrating (only possible outside a transaction) and checked before the commit."""
    raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys = ON")


def check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name == "sqlite" and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
        raise RuntimeError(f"migrating broke foreign keys: {broken[:5]}")


async def upgrade(url: str) -> None:
    await asyncio.to_thread(upgrade_sync, url)
