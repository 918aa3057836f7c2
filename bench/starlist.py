"""`python -m bench starlist`: the star list and the monthly report at city scale.

131 communities, 10,000 volunteers, 200,000 service logs and 1,000,000 transfers, bulk-loaded
into SQLite (a temporary file) and PostgreSQL (LOVEBANK_BENCH_DATABASE_URL, or a database
lovebank_bench_stars created on 127.0.0.1:5432; skipped with a note when no server answers).
The data is consistent: cached balances equal the sums of transfers, holds are resolved once.

Measured per database, through the application's own services:
  weekly_all_communities_s  the weekly star lists of all 131 communities (target < 1 s)
  weekly_job_s              the Monday job: those lists posted to 131 groups, claims included
  top_p50_ms / top_p99_ms   one /top (a member's rank, week/month/all time) (target p99 < 20 ms)
  top_dialog_p50_ms / _p99  the same through the dialog engine, as a chat message
  monthly_report_largest_s  the largest community's full monthly report as XLSX with the chart
                            (target < 5 s)
The last line printed is one JSON object.

Options: --scale 0.1 for a quick run; --sqlite-only.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import check, postgres_url, refusals

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # a Friday noon in Shanghai
PG_NAME = "lovebank_bench_stars"
CATEGORIES = (
    "探访",
    "助餐",
    "助洁",
    "助医",
    "助急",
    "助乐",
    "家政",
    "培训辅导",
    "咨询",
    "义务维修",
    "治安巡逻",
    "纠纷调解",
    "其他",
)

COLUMNS = {
    "communities": (
        "id",
        "name",
        "timezone",
        "locale",
        "confirm_volunteers",
        "points_expire_months",
        "options",
        "created_at",
    ),
    "people": (
        "id",
        "display_name",
        "real_name",
        "phone",
        "locale",
        "is_admin",
        "hide_name",
        "community_id",
        "created_at",
    ),
    "identities": ("id", "person_id", "channel", "external_id", "chat_id", "handle"),
    "memberships": ("id", "person_id", "community_id", "role", "confirmed", "joined_at"),
    "service_categories": ("id", "community_id", "name", "name_en", "points_per_hour", "position", "active"),
    "accounts": ("id", "community_id", "person_id", "kind", "posted", "pending"),
    "service_logs": (
        "id",
        "community_id",
        "person_id",
        "category_id",
        "service_date",
        "minutes",
        "points_per_hour",
        "points",
        "note",
        "photo",
        "status",
        "submitted_by_id",
        "recorded_by_worker",
        "event_name",
        "decided_by_id",
        "decided_at",
        "reject_reason",
        "request_key",
        "created_at",
    ),
    "transfers": (
        "id",
        "community_id",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "kind",
        "phase",
        "pending_id",
        "idempotency_key",
        "ref_type",
        "ref_id",
        "actor_id",
        "reason",
        "created_at",
    ),
    "announcement_groups": ("id", "community_id", "channel", "chat_id", "set_by_id", "created_at"),
}


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# --- the data -----------------------------------------------------------------------------------------


def generate(scale: float, seed: int = 42) -> tuple[dict[str, list[tuple]], dict[str, int]]:
    """Rows for every table, as tuples in COLUMNS order; naive UTC datetimes as the app stores."""
    rng = random.Random(seed)
    n_communities, n_volunteers = 131, max(131, int(10_000 * scale))
    n_logs, n_transfers = int(200_000 * scale), int(1_000_000 * scale)
    created = naive(NOW - timedelta(days=400))
    rows: dict[str, list[tuple]] = {t: [] for t in COLUMNS}
    rows["communities"] = [
        (c, f"社区{c:03d}", "Asia/Shanghai", "zh-CN", False, None, "{}", created) for c in range(1, n_communities + 1)
    ]
    weights = [1 / (i + 5) for i in range(n_communities)]  # a few large communities, many small ones
    sizes = [max(1, round(n_volunteers * w / sum(weights))) for w in weights]
    person_id = account_id = membership_id = 0
    members: dict[int, list[int]] = {}
    account_of: dict[int, int] = {}
    system: dict[tuple[int, str], int] = {}
    workers: dict[int, int] = {}

    def add_person(community: int, name: str, role: str) -> int:
        nonlocal person_id, account_id, membership_id
        person_id += 1
        account_id += 1
        membership_id += 1
        rows["people"].append(
            (person_id, name, name, f"139{person_id:08d}", "zh-CN", False, rng.random() < 0.05, community, created)
        )
        rows["identities"].append((person_id, person_id, "console", f"p{person_id}", None, f"p{person_id}"))
        rows["memberships"].append((membership_id, person_id, community, role, True, created))
        rows["accounts"].append([account_id, community, person_id, "person", 0, 0])
        account_of[person_id] = account_id
        return person_id

    category_id = 0
    categories: dict[int, list[int]] = {}
    for c, size in zip(range(1, n_communities + 1), sizes, strict=True):
        for kind in ("issuance", "supermarket", "adjustments", "expiry", "pool"):
            account_id += 1
            rows["accounts"].append([account_id, c, None, kind, 0, 0])
            system[(c, kind)] = account_id
        categories[c] = []
        for position, name in enumerate(CATEGORIES, start=1):
            category_id += 1
            rows["service_categories"].append((category_id, c, name, f"Category {position}", 10, position, True))
            categories[c].append(category_id)
        workers[c] = add_person(c, f"社工{c}-1", "worker")
        add_person(c, f"社工{c}-2", "worker")
        members[c] = [add_person(c, f"志愿者{c}-{k}", "volunteer") for k in range(1, size + 1)]
        rows["announcement_groups"].append((c, c, "telegram", f"-100{c:06d}", workers[c], created))
    community_ids = list(range(1, n_communities + 1))
    cumulative = list(itertools.accumulate(len(members[c]) for c in community_ids))
    random_ = rng.random

    def pick_community() -> int:  # weighted by size; rng.choices would rebuild the weights each call
        return community_ids[bisect.bisect(cumulative, random_() * cumulative[-1])]

    def pick(items: list[int]) -> int:
        return items[int(random_() * len(items))]

    # Service logs over the past year: 90 % approved (each earns), 5 % pending, 5 % rejected.
    today = NOW.date()
    earns: list[tuple[datetime, int, int, int, int]] = []  # when, community, person, points, log
    now = naive(NOW)
    midnight = datetime.combine(today, datetime.min.time())
    for log_id in range(1, n_logs + 1):
        c = pick_community()
        person = pick(members[c])
        days_ago = int(random_() * 365)
        day = today - timedelta(days=days_ago)
        minutes = 15 * (2 + int(random_() * 15))
        points = minutes * 10 // 60
        roll = random_()
        status = "approved" if roll < 0.9 else "pending" if roll < 0.95 else "rejected"
        submitted = midnight - timedelta(days=days_ago, hours=-8 - int(random_() * 12))
        decided = min(submitted + timedelta(hours=1 + int(random_() * 29)), now) if status != "pending" else None
        rows["service_logs"].append(
            (
                log_id,
                c,
                person,
                pick(categories[c]),
                day,
                minutes,
                10,
                points,
                None,
                None,
                status,
                person,
                False,
                None,
                workers[c] if decided else None,
                decided,
                "重复" if status == "rejected" else None,
                None,
                submitted,
            )
        )
        if status == "approved":
            earns.append((decided, c, person, points, log_id))  # type: ignore[arg-type]

    # Everything else that moves points, in time order so nobody spends what they do not have.
    others = [
        (now - timedelta(seconds=int(random_() * 365 * 86400)), 0, 0, 0, 0)
        for _ in range(int((n_transfers - len(earns)) / 1.45))
    ]
    events = sorted(earns + others, key=lambda e: e[0])
    posted: dict[int, int] = {}
    pending: dict[int, int] = {}
    transfers = rows["transfers"]

    def move(
        c: int,
        debit: int,
        credit: int,
        amount: int,
        kind: str,
        phase: str,
        when: datetime,
        pending_id: int | None = None,
        ref: tuple[str | None, int | None] = (None, None),
    ) -> int:
        tid = len(transfers) + 1
        transfers.append(
            (tid, c, debit, credit, amount, kind, phase, pending_id, f"b:{tid:08d}", ref[0], ref[1], None, None, when)
        )
        if phase in ("posted", "post"):
            posted[debit] = posted.get(debit, 0) - amount
            posted[credit] = posted.get(credit, 0) + amount
        if phase == "pending":
            pending[debit] = pending.get(debit, 0) + amount
        if phase in ("post", "void", "expire"):
            pending[debit] -= amount
        return tid

    for when, c, person, points, log_id in events:
        if len(transfers) >= n_transfers:
            break
        if c:  # an earn
            move(c, system[(c, "issuance")], account_of[person], points, "earn", "posted", when, ref=("log", log_id))
            continue
        c = pick_community()
        person = pick(members[c])
        mine = account_of[person]
        available = posted.get(mine, 0) - pending.get(mine, 0)
        roll = random_()
        amount = 1 + int(random_() * 10)
        if available < amount or roll < 0.08:  # a worker's correction in the person's favour
            move(c, system[(c, "adjustments")], mine, amount, "adjust", "posted", when)
        elif roll < 0.62:  # a redemption, handed over a day or two later
            hold = move(
                c, mine, system[(c, "supermarket")], amount, "redeem", "pending", when, ref=("redemption", None)
            )
            move(
                c,
                mine,
                system[(c, "supermarket")],
                amount,
                "redeem",
                "post",
                when + timedelta(hours=rng.randrange(2, 48)),
                hold,
            )
        elif roll < 0.67:  # rejected or cancelled
            hold = move(c, mine, system[(c, "supermarket")], amount, "redeem", "pending", when)
            move(c, mine, system[(c, "supermarket")], amount, "redeem", "void", when + timedelta(hours=3), hold)
        elif roll < 0.68:  # still waiting for the hand-over
            move(c, mine, system[(c, "supermarket")], amount, "redeem", "pending", when)
        elif roll < 0.85:
            move(
                c,
                mine,
                account_of[pick(members[c])] if len(members[c]) > 1 else system[(c, "pool")],
                amount,
                "gift",
                "posted",
                when,
            )
        elif roll < 0.95:
            move(c, mine, system[(c, "pool")], amount, "donate", "posted", when)
        else:
            move(c, mine, system[(c, "expiry")], amount, "expire_points", "posted", when)
    for account in rows["accounts"]:
        account[4], account[5] = posted.get(account[0], 0), pending.get(account[0], 0)
    rows["accounts"] = [tuple(a) for a in rows["accounts"]]
    largest = max(community_ids, key=lambda c: len(members[c]))
    return rows, {"largest": largest, "volunteers": sum(len(m) for m in members.values())}


# --- loading ------------------------------------------------------------------------------------------


def load_sqlite(path: Path, rows: dict[str, list[tuple]]) -> None:
    """Plain sqlite3 executemany in one transaction, with the secondary indexes dropped during the
    load and rebuilt after (what a restore does): far faster than updating them row by row."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL").fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for table, data in rows.items():
        columns = COLUMNS[table]
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            _as_sqlite(columns, data),
        )
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _as_sqlite(columns: tuple[str, ...], data: list[tuple]) -> list[tuple]:
    """Dates and times as the text SQLAlchemy stores in SQLite, converted in bulk (an sqlite3
    adapter would call back into Python for every value, three times slower)."""
    when = [i for i, name in enumerate(columns) if name.endswith("_at") or name == "service_date"]
    if not when:
        return data
    out = []
    for row in data:
        row = list(row)
        for i in when:
            v = row[i]
            if v is not None:
                row[i] = v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v.isoformat()
        out.append(row)
    return out


async def load_postgres(url: str, rows: dict[str, list[tuple]]) -> None:
    """COPY (asyncpg's binary copy) in one transaction, with foreign-key triggers off (the rows
    are consistent by construction) and the plain indexes rebuilt after the load."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            indexes = await conn.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            )
            for index in indexes:
                conn.execute(f'DROP INDEX "{index["indexname"]}"')
            for table, data in rows.items():
                await conn.copy_records_to_table(table, records=data, columns=list(COLUMNS[table]))
            for index in indexes:
                conn.execute(index["indexdef"])
        for table in rows:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")  # statistics, and the visibility map for index-only scans
    finally:
        await conn.close()


async def fresh_postgres() -> str | None:
    """The bench database, emptied; None when no PostgreSQL server answers."""
    url, why = await postgres_url(PG_NAME)
    if url is None:
        print(f"PostgreSQL skipped: {why}", file=sys.stderr)
    return url


# --- measuring ----------------------------------------------------------------------------------------


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered) * 1000, 2), round(p99 * 1000, 2)


async def measure(url: str, rows: dict[str, list[tuple]], facts: dict[str, int], tops: int) -> dict[str, float]:
    from bot.dialogs.core import Caller, Input
    from bot.dialogs.engine import Dialogs
    from bot.kernel.clock import FixedClock
    from bot.kernel.db import Database
    from bot.kernel.settings import Settings
    from bot.reports.files import to_xlsx, with_chart
    from bot.services import Services

    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings, FixedClock(NOW))
    out: dict[str, float] = {}
    try:
        await services.run(services.stars.lists, "week")  # warm the connection pool and the caches
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            lists = await services.run(services.stars.lists, "week")
            runs.append(time.perf_counter() - started)
        check(len(lists) == 131, f"{len(lists)} star lists for 131 communities")
        out["weekly_all_communities_s"] = round(statistics.median(runs), 4)

        monday = NOW + timedelta(days=3)  # Monday 23 November, 12:00 in Shanghai
        started = time.perf_counter()
        posted = await services.run(services.stars.post, monday)
        out["weekly_job_s"] = round(time.perf_counter() - started, 3)
        check(posted.posted + posted.empty == 131, f"weekly job: {posted}")

        rng = random.Random(7)
        volunteers = [(p[0], p[7]) for p in rows["people"] if p[1].startswith("志愿者")]
        samples = []
        for i in range(tops):
            person, community = rng.choice(volunteers)
            started = time.perf_counter()
            await services.run(services.stars.top, person, community, ("week", "month", "all")[i % 3])
            samples.append(time.perf_counter() - started)
        out["top_p50_ms"], out["top_p99_ms"] = _ms(samples)

        dialogs = Dialogs(services)
        samples = []
        for i in range(tops):
            person, _ = rng.choice(volunteers)
            caller = Caller("console", f"p{person}", display_name=f"p{person}", handle=f"p{person}")
            started = time.perf_counter()
            turn = await dialogs.handle(caller, Input(text=("/top", "/top month", "/top all")[i % 3]))
            samples.append(time.perf_counter() - started)
            check(not refusals(turn.replies), f"/top refused: {refusals(turn.replies)}")
        out["top_dialog_p50_ms"], out["top_dialog_p99_ms"] = _ms(samples)

        await services.run(
            services.reports.build, 1 if facts["largest"] != 1 else 2, "2026-09", "zh-CN"
        )  # loads the font once
        started = time.perf_counter()
        report = with_chart(await services.run(services.reports.build, facts["largest"], "2026-10", "zh-CN"))
        content = to_xlsx(report)
        out["monthly_report_largest_s"] = round(time.perf_counter() - started, 3)
        out["largest_community_volunteers"] = len(report.sheet("volunteers").rows)
        out["largest_report_bytes"] = len(content)
        ledger = dict(report.sheet("ledger").rows)
        # The ledger balances at scale too.
        check(ledger[next(k for k in ledger if "核对" in k)] == 0, "the monthly report's ledger does not balance")
    finally:
        await services.db.dispose()
    return out


async def run_sqlite(rows: dict[str, list[tuple]], facts: dict[str, int], tops: int) -> dict[str, float]:
    from bot.kernel.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        started = time.perf_counter()
        load_sqlite(path, rows)
        result = {"load_s": round(time.perf_counter() - started, 1)}
        result.update(await measure(url, rows, facts, tops))
        return result


async def run_postgres(rows: dict[str, list[tuple]], facts: dict[str, int], tops: int) -> dict[str, float] | None:
    from bot.kernel.migrate import upgrade

    url = await fresh_postgres()
    if url is None:
        return None
    await upgrade(url)
    started = time.perf_counter()
    await load_postgres(url, rows)
    result = {"load_s": round(time.perf_counter() - started, 1)}
    result.update(await measure(url, rows, facts, tops))
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench starlist", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data set (default 1)")
    parser.add_argument("--tops", type=int, default=300, help="/top calls to time (default 300)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows, facts = generate(args.scale)
    result: dict[str, object] = {
        "bench": "starlist",
        "machine_cores": os.cpu_count(),
        "communities": len(rows["communities"]),
        "volunteers": facts["volunteers"],
        "service_logs": len(rows["service_logs"]),
        "transfers": len(rows["transfers"]),
        "generate_s": round(time.perf_counter() - started, 1),
    }
    print(f"generated in {result['generate_s']} s; loading SQLite…", file=sys.stderr)
    result["sqlite"] = asyncio.run(run_sqlite(rows, facts, args.tops))
    print(f"sqlite: {json.dumps(result['sqlite'])}", file=sys.stderr)
    if not args.sqlite_only:
        pg = asyncio.run(run_postgres(rows, facts, args.tops))
        result["postgresql"] = pg if pg is not None else "skipped: no PostgreSQL server"
        print(f"postgresql: {json.dumps(result['postgresql'])}", file=sys.stderr)
    result["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False))
    return 0
