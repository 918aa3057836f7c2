"""Helpers the benchmarks share: timing, medians, machine facts, the databases to run on and the
one JSON line every benchmark ends with."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.system(),
        # Other work on the machine skews every figure; the load says how much there was.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    """Wall-clock seconds `work` takes."""
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


def sqlite_url(directory: str | Path, name: str = "bench.db") -> str:
    return f"sqlite+aiosqlite:///{Path(directory) / name}"


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as plain asyncpg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def postgres_url(default_name: str) -> tuple[str | None, str]:
    """A wiped PostgreSQL database to benchmark on: LOVEBANK_BENCH_DATABASE_URL, or
    `default_name` on the local server (created when missing). Returns (url, database name),
    or (None, why not) when no server answers."""
    import asyncpg

    url = os.environ.get("LOVEBANK_BENCH_DATABASE_URL") or f"{PG_SERVER}/{default_name}"
    server, _, name = asyncpg_dsn(url).rpartition("/")
    try:
        admin = await asyncpg.connect(f"{server}/postgres", timeout=5)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        return None, f"no PostgreSQL server at {server.rsplit('@', 1)[-1]}: {exc}"
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return url, name


def emit(result: dict[str, Any]) -> None:
    """The last line a benchmark prints: one JSON object."""
    print(json.dumps(result, ensure_ascii=False), flush=True)
