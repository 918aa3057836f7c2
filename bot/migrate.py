"""Alembic from inside the app: every command that needs the database migrates first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

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
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes starting at once: one migrates, the others wait and find it done.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
    finally:
        if own:
            engine.dispose()


async def upgrade(url: str) -> None:
    await asyncio.to_thread(upgrade_sync, url)
