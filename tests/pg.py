"""The PostgreSQL database the tests use: LOVEBANK_TEST_DATABASE_URL itself, or under pytest-xdist
one database per worker beside it (`<name>_gw0`, `<name>_gw1`…), so that workers never truncate
or drop each other's tables. A worker's database is created on the same server when missing."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy.engine import make_url

BASE_URL = os.environ.get("LOVEBANK_TEST_DATABASE_URL")
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set by pytest-xdist before conftest is imported


def worker_url(url: str, worker: str | None) -> str:
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = worker_url(BASE_URL, WORKER) if BASE_URL else None


def prepare_database() -> None:
    """Creates this worker's database when missing, through the server's `postgres` database,
    and lets the test database commit without waiting for the disk: it need not survive a crash,
    and the wait is most of a database test's time on a busy machine."""
    if not PG_URL:
        return
    import asyncpg

    target = make_url(PG_URL)

    async def prepare() -> None:
        conn = await asyncpg.connect(
            host=target.host,
            port=target.port,
            user=target.username,
            password=target.password,
            database="postgres",
            timeout=10,
        )
        try:
            if WORKER and not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database):
                await conn.execute(f'CREATE DATABASE "{target.database}"')
            await conn.execute(f'ALTER DATABASE "{target.database}" SET synchronous_commit = off')
        finally:
            await conn.close()

    asyncio.run(prepare())
