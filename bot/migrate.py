"""Alembic from inside the app: every command that needs the database migrates first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from bot.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK = 0x4C6F7666


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade_sync(url: str, engine: Engine | None = None) -> None:
    """Upgrade to every head: feature branches of the migration tree all apply."""
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
