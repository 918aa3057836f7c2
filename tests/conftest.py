"""Shared fixtures. Database tests run on SQLite always, and on PostgreSQL too when
LOVEBANK_TEST_DATABASE_URL is set: the `database` fixture is parametrised over both."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

import models
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from tests.pg import PG_URL, prepare_database
from tests.world import World, make_world

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# The per-user data folder (where the default database lives) is a temporary one for the run and
# for every process a test starts: the suite never writes into a real home folder.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="lovebank-test-data-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], True)
# Noon in Shanghai, so "today" is unambiguous in the default time zone.
T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)

_sqlite_template: Path | None = None
_pg_migrated = False


def pytest_configure(config: pytest.Config) -> None:
    prepare_database()  # PostgreSQL: under pytest-xdist this worker's own database (tests/pg.py)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` on SQLite alone: one worker more than the cores. Part of that suite waits on real
    processes (`lovebank serve`, `lovebank run`, Chromium) rather than computing; on 2 cores two
    workers left a core idle a third of the time (3 min 13 s), three take 2 min 43 s. With
    PostgreSQL the timed end-to-end tests (kills, outages, waits on the platforms' stand-ins) share
    the cores with the server: one worker a core, as CI has always run them."""
    cores = os.cpu_count() or 1
    return cores if PG_URL else cores + 1


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The schema is built once by `alembic upgrade head`; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def _fresh_postgres() -> None:
    global _pg_migrated
    assert PG_URL
    if not _pg_migrated:
        db = Database(PG_URL)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        await db.dispose()
        await upgrade(PG_URL)
        _pg_migrated = True
    # DELETE, children first, and the sequences back to 1: the same empty tables as TRUNCATE …
    # RESTART IDENTITY, in ~50 ms instead of ~1.5 s (TRUNCATE replaces every table's files).
    db = Database(PG_URL)
    with db.engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(
            text(
                "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
            )
        )
    await db.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    await _fresh_postgres()
    return PG_URL  # type: ignore[return-value]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, admins=["console:admin"])  # type: ignore[call-arg]


@pytest.fixture
async def services(database: Database, settings: Settings, clock: FixedClock) -> Services:
    return Services(database, settings, clock)


@pytest.fixture
async def world(services: Services) -> World:
    """The small shared community every dialog and channel test starts from (tests/world.py)."""
    return await make_world(services)
