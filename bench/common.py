"""Helpers the benchmarks share: timing, medians, machine facts, the databases to run on and the
one JSON line every benchmark ends with."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


class Refused(Exception):
    """A benchmark met a refusal or an error where it meant to time a success: its figures would
    measure the wrong work, so it stops and `python -m bench` exits non-zero."""


def check(ok: object, what: str) -> None:
    """Stop the benchmark (Refused) unless `ok`: what it timed must have succeeded."""
    if not ok:
        raise Refused(what)


def refusals(replies: Any) -> list[str]:
    """The refusal keys (error.*) among a dialog turn's replies, for `check`."""
    return [r.text.key for r in replies if r.text.key.startswith("error.")]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
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
    return f"sqlite:///{Path(directory) / name}"


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain driver (asyncpg, psycopg) takes it: no `+driver`."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


async def postgres_url(default_name: str) -> tuple[str | None, str]:
    """A wiped PostgreSQL database to benchmark on: LOVEBANK_BENCH_DATABASE_URL, or
    `default_name` on the local server (created when missing). Returns (url, database name),
    or (None, why not) when no server answers."""
    import psycopg

    url = os.environ.get("LOVEBANK_BENCH_DATABASE_URL") or f"{PG_SERVER}/{default_name}"
    server, _, name = asyncpg_dsn(url).rpartition("/")
    try:
        admin = psycopg.connect(f"{server}/postgres", connect_timeout=5, autocommit=True)
    except psycopg.Error as exc:
        return None, f"no PostgreSQL server at {server.rsplit('@', 1)[-1]}: {exc}"
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(asyncpg_dsn(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url, name


def emit(result: dict[str, Any]) -> None:
    """The last line a benchmark prints: one JSON object."""
    print(json.dumps(result, ensure_ascii=False), flush=True)
