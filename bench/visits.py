"""`python -m bench visits`: a district of 131 communities, 3,311 grids with a coordinator (网格员)
each and 50,000 elders with a year of visit history, on SQLite and PostgreSQL. Measures the
morning reminders for every community (the whole job: due lists, every worker's, coordinator's
and volunteer's message, claims; the same morning three times, its claims cleared between runs,
median reported), one worker's /visits and one coordinator's /elders through the dialog engine
(p50/p99 of 300 calls each; the bot's CPU time for the morning and for each /elders too, as the
wall time on a shared machine counts waits for a core). The 1-minute load average is reported.

The data is bulk-loaded straight through each driver with multi-row INSERTs (VALUES lists on
SQLite, INSERT … SELECT FROM unnest(arrays) on PostgreSQL, foreign-key triggers off for the
loading connection as pg_restore does), after `alembic upgrade heads` built the schema, then
ANALYZE. PostgreSQL: LOVEBANK_BENCH_DATABASE_URL (its schema is wiped), or a database
lovebank_bench_visits created on 127.0.0.1:5432; skipped with a note when no server answers.
Targets: morning_all_communities_s < 2, visits_p99_ms < 20, coordinator_elders_p99_ms < 20. The
last line printed is JSON."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.common import asyncpg_dsn, check, postgres_url, refusals
from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.elders.cadence import VisitCadence
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services

NOW = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, when the reminders go out
SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKERS, VOLUNTEERS, GRIDS = 3, 20, 3311  # grids in the whole district, each with a coordinator
TARGETS = {"morning_all_communities_s": 2.0, "visits_p99_ms": 20.0, "coordinator_elders_p99_ms": 20.0}

# Table layouts for the loaders: (column, PostgreSQL array type for unnest).
TABLES: dict[str, list[tuple[str, str]]] = {
    "communities": [
        ("id", "int"),
        ("name", "text"),
        ("timezone", "text"),
        ("locale", "text"),
        ("confirm_volunteers", "bool"),
        ("options", "json"),
        ("created_at", "timestamp"),
    ],
    "people": [
        ("id", "int"),
        ("display_name", "text"),
        ("real_name", "text"),
        ("phone", "text"),
        ("locale", "text"),
        ("is_admin", "bool"),
        ("hide_name", "bool"),
        ("community_id", "int"),
        ("created_at", "timestamp"),
    ],
    "identities": [
        ("id", "int"),
        ("person_id", "int"),
        ("channel", "text"),
        ("external_id", "text"),
        ("handle", "text"),
    ],
    "memberships": [
        ("id", "int"),
        ("person_id", "int"),
        ("community_id", "int"),
        ("role", "text"),
        ("confirmed", "bool"),
        ("joined_at", "timestamp"),
        ("grid_id", "int"),
    ],
    "grids": [("id", "int"), ("community_id", "int"), ("name", "text")],
    "grid_coordinators": [
        ("id", "int"),
        ("community_id", "int"),
        ("grid_id", "int"),
        ("person_id", "int"),
        ("appointed_at", "timestamp"),
    ],
    "elders": [
        ("id", "int"),
        ("community_id", "int"),
        ("name", "text"),
        ("birth_year", "int"),
        ("import_key", "text"),
        ("address", "text"),
        ("grid_id", "int"),
        ("lives_alone", "bool"),
        ("risk", "text"),
        ("phone", "text"),
        ("emergency_contact", "text"),
        ("worker_id", "int"),
        ("active", "bool"),
        ("flagged", "bool"),
        ("not_home_streak", "int"),
        ("last_visit_at", "timestamp"),
        ("last_call_at", "timestamp"),
        ("added_at", "timestamp"),
    ],
    "elder_volunteers": [("elder_id", "int"), ("person_id", "int")],
    "visit_records": [
        ("community_id", "int"),
        ("elder_id", "int"),
        ("person_id", "int"),
        ("kind", "text"),
        ("at", "timestamp"),
        ("outcome", "text"),
        ("created_at", "timestamp"),
    ],
}


# --- the district ------------------------------------------------------------------------------


class District:
    """Deterministic data: the same seed gives the same district on both databases."""

    def __init__(self, communities: int, elders: int, grids: int = GRIDS, seed: int = 5) -> None:
        self.communities, self.elders, self.grids, self.seed = communities, elders, max(grids, communities), seed
        self.cadence = VisitCadence()
        self.today = NOW.astimezone(SHANGHAI).date()

    def worker(self, c: int, k: int) -> int:
        return 10 + c * (WORKERS + VOLUNTEERS) + k

    def volunteer(self, c: int, k: int) -> int:
        return 10 + c * (WORKERS + VOLUNTEERS) + WORKERS + k

    # Grid g (from 0) belongs to community g % communities: every community has some.

    def grids_of(self, c: int) -> int:
        return len(range(c, self.grids, self.communities))

    def grid(self, c: int, k: int) -> int:
        return c + k * self.communities + 1

    def coordinator(self, g: int) -> int:
        """The coordinator of grid id `g`, after every community's workers and volunteers."""
        return 10 + self.communities * (WORKERS + VOLUNTEERS) + g - 1

    def small_tables(self) -> dict[str, list[tuple]]:
        created = NOW - timedelta(days=400)
        out: dict[str, list[tuple]] = {
            name: [] for name in ("communities", "people", "identities", "memberships", "grids", "grid_coordinators")
        }
        out["people"] += [(n, f"管理员{n}", None, None, "zh-CN", True, False, None, created) for n in (1, 2)]
        for c in range(self.communities):
            cid = c + 1
            out["communities"].append((cid, f"社区{cid:03d}", "Asia/Shanghai", "zh-CN", False, "{}", created))
            for k in range(WORKERS + VOLUNTEERS):
                pid = 10 + c * (WORKERS + VOLUNTEERS) + k
                role = "worker" if k < WORKERS else "volunteer"
                name = f"{'社工' if role == 'worker' else '志愿者'}{cid}-{k}"
                out["people"].append((pid, name, name, f"139{pid:08d}", "zh-CN", False, False, cid, created))
                grid = self.grid(c, k % self.grids_of(c)) if role == "volunteer" else None
                out["memberships"].append((pid, pid, cid, role, True, created, grid))
                out["identities"].append((pid, pid, "console", f"p{pid}", f"p{pid}"))
        for g in range(1, self.grids + 1):
            cid, pid = (g - 1) % self.communities + 1, self.coordinator(g)
            out["grids"].append((g, cid, f"第{(g - 1) // self.communities + 1}网格"))
            name = f"网格员{g}"
            out["people"].append((pid, name, name, f"137{pid:08d}", "zh-CN", False, False, cid, created))
            out["memberships"].append((pid, pid, cid, "volunteer", True, created, g))
            out["identities"].append((pid, pid, "console", f"p{pid}", f"p{pid}"))
            out["grid_coordinators"].append((g, cid, g, pid, created))
        return out

    def elders_and_history(self, chunk: int = 2000) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
        """(elders, volunteer assignments, visit records) in chunks of elders."""
        rng = random.Random(self.seed)
        year_ago = NOW - timedelta(days=365)
        elders: list[tuple] = []
        assigned: list[tuple] = []
        records: list[tuple] = []
        for n in range(self.elders):
            eid, c = n + 1, n % self.communities
            cid = c + 1
            alone, risk = rng.random() < 0.6, "high" if rng.random() < 0.12 else "normal"
            year = rng.randint(1925, 1966)
            rule = self.cadence.rule(self.cadence.kind_of(alone, risk, year, self.today))
            worker = self.worker(c, rng.randrange(WORKERS)) if rng.random() < 0.95 else None
            visitors = rng.sample(range(VOLUNTEERS), rng.choice((0, 1, 1, 2)))
            assigned += [(eid, self.volunteer(c, v)) for v in visitors]
            visitors_ids = [self.volunteer(c, v) for v in visitors] or [worker or self.worker(c, 0)]
            last_visit = last_call = None
            streak = 0
            # A year of visits on the cadence, some late; calls between visits where the rule asks.
            t = year_ago + timedelta(days=rng.uniform(0, rule.visit), hours=rng.uniform(-6, 6))
            while t < NOW:
                roll = rng.random()
                outcome = (
                    "well"
                    if roll < 0.92
                    else "not_home"
                    if roll < 0.97
                    else "hospital"
                    if roll < 0.99
                    else "needs_help"
                )
                records.append((cid, eid, visitors_ids[int(roll * 1000) % len(visitors_ids)], "visit", t, outcome, t))
                if outcome == "not_home":
                    streak += 1
                else:
                    last_visit, streak = t, 0
                if rule.call:
                    call = t + timedelta(days=rule.call, hours=rng.uniform(-3, 3))
                    if call < NOW:
                        records.append((cid, eid, worker or self.worker(c, 0), "call", call, "well", call))
                        last_call = call
                t += timedelta(days=rule.visit * rng.uniform(0.85, 1.2))
            elders.append(
                (
                    eid,
                    cid,
                    f"老人{eid}",
                    year,
                    f"老人{eid}|{year}",
                    f"{cid}号小区{rng.randint(1, 30)}栋{rng.randint(101, 1802)}",
                    self.grid(c, rng.randrange(self.grids_of(c))),
                    alone,
                    risk,
                    f"138{eid:08d}",
                    f"家属 139{eid:08d}",
                    worker,
                    True,
                    streak >= 2,
                    streak,
                    last_visit,
                    last_call,
                    year_ago - timedelta(days=30),
                )
            )
            if len(elders) == chunk:
                yield elders, assigned, records
                elders, assigned, records = [], [], []
        if elders:
            yield elders, assigned, records


# --- loaders: multi-row INSERTs through the driver ----------------------------------------------


class SqliteLoader:
    MAX_VARIABLES = 32_000

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA synchronous=OFF")
        self.connection.execute("BEGIN")

    async def insert(self, table: str, rows: list[tuple]) -> None:
        columns = [c for c, _ in TABLES[table]]
        per = self.MAX_VARIABLES // len(columns)
        row_sql = "(" + ",".join("?" * len(columns)) + ")"
        for start in range(0, len(rows), per):
            batch = rows[start : start + per]
            sql = f"INSERT INTO {table} ({','.join(columns)}) VALUES " + ",".join([row_sql] * len(batch))
            self.connection.execute(sql, [_sqlite(v) for row in batch for v in row])

    async def finish(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("ANALYZE")
        self.connection.close()


def _sqlite(value: Any) -> Any:
    # The text SQLAlchemy's DateTime stores on SQLite (naive UTC, microseconds), so comparisons agree.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


class PgLoader:
    PER = 20_000

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def start(self) -> PgLoader:
        # As pg_restore does for a data-only load: no foreign-key triggers on this connection
        # (the generated data is consistent by construction; the SQLite loader checks none either).
        await self.connection.execute("SET session_replication_role = replica")
        return self

    async def insert(self, table: str, rows: list[tuple]) -> None:
        layout = TABLES[table]
        arrays = ", ".join(f"${i + 1}::{kind}[]" for i, (_, kind) in enumerate(layout))
        sql = f"INSERT INTO {table} ({','.join(c for c, _ in layout)}) SELECT * FROM unnest({arrays})"
        for start in range(0, len(rows), self.PER):
            batch = rows[start : start + self.PER]
            await self.connection.execute(sql, *([_pg(v) for v in column] for column in zip(*batch, strict=True)))

    async def finish(self) -> None:
        for table in ("communities", "people", "identities", "memberships", "grids", "grid_coordinators", "elders"):
            await self.connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await self.connection.execute("ANALYZE")
        await self.connection.close()


def _pg(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # timestamp without time zone, in UTC
    return value


async def load(loader: SqliteLoader | PgLoader, district: District) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, rows in district.small_tables().items():
        await loader.insert(table, rows)
        counts[table] = len(rows)
    for elders, assigned, records in district.elders_and_history():
        for table, rows in (("elders", elders), ("elder_volunteers", assigned), ("visit_records", records)):
            await loader.insert(table, rows)
            counts[table] = counts.get(table, 0) + len(rows)
    await loader.finish()
    return counts


# --- measuring ----------------------------------------------------------------------------------


async def measure(url: str, district: District, samples: int) -> dict[str, Any]:
    clock = FixedClock(NOW)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings, clock)
    try:
        runs, cpu, report = [], [], None
        for _ in range(3):  # the same morning three times, its claims and messages cleared between
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            report = await services.run(services.visits.morning)
            runs.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            told = await services.db.run(services.db.transaction, _coordinators_told)
            check(told == district.grids, f"{told} coordinators of {district.grids} told in the morning")
            await services.db.run(services.db.transaction, _forget_the_morning)
        # The worker with the most elders in the first community.
        due = await services.run(services.visits.due_for, district.worker(0, 0), 1, everyone=True)
        busiest = max(range(WORKERS), key=lambda k: sum(1 for i in due.items if i.worker_id == district.worker(0, k)))
        worker = district.worker(0, busiest)
        dialogs = Dialogs(services)
        caller = Caller("console", f"p{worker}", display_name=f"p{worker}", handle=f"p{worker}")
        listed = await dialogs.handle(caller, Input(text="/visits"))  # warm: identity and caches
        check(listed.replies and not refusals(listed.replies), f"/visits refused: {refusals(listed.replies)}")
        gc.collect()
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            turn = await dialogs.handle(caller, Input(text="/visits"))
            timings.append((time.perf_counter() - started) * 1000)
            check(not refusals(turn.replies), f"/visits refused: {refusals(turn.replies)}")
        timings.sort()
        mine = await services.run(services.visits.due_for, worker, 1)
        elders_ms, elders_cpu_ms, listed_elders = await _coordinator_elders(services, district, samples)
        return {
            "morning_all_communities_s": round(statistics.median(runs), 3),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "morning_runs_s": [round(r, 3) for r in runs],
            # The bot's own CPU for it (SQLite's work included, PostgreSQL's not): on a shared
            # machine the wall time also counts the waits for a core.
            "morning_cpu_s": round(statistics.median(cpu), 3),
            "morning_messages": report.messages if report else 0,
            "due_items_all_communities": report.due if report else 0,
            "visits_p50_ms": round(timings[len(timings) // 2], 2),
            "visits_p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
            "visits_items_for_worker": len(mine.items),
            "visits_reply_options": sum(len(r.options) for r in listed.replies),
            "coordinators": district.grids,
            "coordinator_elders_p50_ms": round(elders_ms[len(elders_ms) // 2], 2),
            "coordinator_elders_p99_ms": round(elders_ms[min(len(elders_ms) - 1, int(len(elders_ms) * 0.99))], 2),
            "coordinator_elders_cpu_p50_ms": round(elders_cpu_ms[len(elders_cpu_ms) // 2], 2),
            "coordinator_elders_cpu_p99_ms": round(
                elders_cpu_ms[min(len(elders_cpu_ms) - 1, int(len(elders_cpu_ms) * 0.99))], 2
            ),
            "coordinator_elders_listed": listed_elders,
        }
    finally:
        await services.db.dispose()


async def _coordinator_elders(
    services: Services, district: District, samples: int
) -> tuple[list[float], list[float], int]:
    """A coordinator's /elders (their grid's first page) through the dialog engine, timed; checks
    it lists their grid's elders and nothing else."""
    grid = 1
    coordinator = district.coordinator(grid)
    dialogs = Dialogs(services)
    caller = Caller("console", f"p{coordinator}", display_name=f"p{coordinator}", handle=f"p{coordinator}")
    await services.run(services.people.consent, coordinator, 1)  # a volunteer agrees to the privacy notice
    listed = await dialogs.handle(caller, Input(text="/elders"))  # warm: identity and caches
    check(listed.replies and not refusals(listed.replies), f"/elders refused: {refusals(listed.replies)}")
    check(listed.replies[0].text.key == "elders.list", f"/elders answered {listed.replies[0].text.key}")
    views, _ = await services.run(services.visits.roster.roster, coordinator, 1)
    check(bool(views) and {v.grid for v in views} == {"第1网格"}, "a coordinator's /elders is their grid's")
    gc.collect()
    timings, cpu = [], []
    for _ in range(samples):
        started, started_cpu = time.perf_counter(), time.process_time()
        turn = await dialogs.handle(caller, Input(text="/elders"))
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        check(not refusals(turn.replies), f"/elders refused: {refusals(turn.replies)}")
    return sorted(timings), sorted(cpu), len(views)


def _coordinators_told(session: Any) -> int:
    return session.scalar(text("SELECT count(DISTINCT person_id) FROM notifications WHERE key LIKE 'grids.morning%'"))


def _forget_the_morning(session: Any) -> None:
    session.execute(text("DELETE FROM job_runs"))
    session.execute(text("DELETE FROM notifications"))


async def run_sqlite(district: District, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        started = time.perf_counter()
        counts = await load(SqliteLoader(path), district)
        loaded = time.perf_counter() - started
        result = await measure(url, district, samples)
        return {"load_s": round(loaded, 1), "rows": counts, **result}


async def run_postgresql(district: District, samples: int) -> dict[str, Any]:
    import asyncpg

    url, why = await postgres_url("lovebank_bench_visits")
    if url is None:
        return {"skipped": why}
    await upgrade(url)
    started = time.perf_counter()
    counts = await load(await PgLoader(await asyncpg.connect(asyncpg_dsn(url))).start(), district)
    loaded = time.perf_counter() - started
    result = await measure(url, district, samples)
    return {"load_s": round(loaded, 1), "rows": counts, **result}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench visits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=131)
    parser.add_argument("--elders", type=int, default=50_000)
    parser.add_argument("--grids", type=int, default=GRIDS, help="grids in the district, a coordinator each")
    parser.add_argument("--samples", type=int, default=300, help="/visits calls to time")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    district = District(args.communities, args.elders, args.grids)
    out: dict[str, Any] = {
        "bench": "visits",
        "cores": os.cpu_count(),
        "communities": args.communities,
        "elders": args.elders,
        "grids": district.grids,
        "date": NOW.isoformat(),
        "targets": TARGETS,
    }
    started = time.perf_counter()
    for backend in args.backends.split(","):
        print(f"visits bench: {backend}…", file=sys.stderr, flush=True)
        runner = run_sqlite if backend == "sqlite" else run_postgresql
        out[backend] = asyncio.run(runner(district, args.samples))
        print(f"visits bench: {backend}: {json.dumps(out[backend], ensure_ascii=False)}", file=sys.stderr, flush=True)
    measured = [r for r in (out.get(b) for b in ("sqlite", "postgresql")) if r and "skipped" not in r]
    out["ok"] = bool(measured) and all(
        r["morning_all_communities_s"] < TARGETS["morning_all_communities_s"]
        and r["visits_p99_ms"] < TARGETS["visits_p99_ms"]
        and r["coordinator_elders_p99_ms"] < TARGETS["coordinator_elders_p99_ms"]
        for r in measured
    )
    out["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, ensure_ascii=False))
    return 0 if out["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
