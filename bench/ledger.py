"""`python -m bench ledger`: ledger operations per second through the services, against the same
transactions written as plain SQL on the same driver.

The mix is 40% earn, 30% hold, 20% post, 10% void (a post or void needs an open hold; when there
is none a hold is made instead, and the JSON reports the mix that ran). Each operation is its own
transaction: `services.db.transaction` around `services.ledger.*` for the services, and for the
baseline a raw aiosqlite / asyncpg connection with explicit BEGIN [IMMEDIATE] / COMMIT and the
same INSERT ... ON CONFLICT DO NOTHING RETURNING, guarded UPDATEs and SELECT. Both run the same
plan, alternating, several times; figures are medians, and `ratio` is services / baseline.

SQLite runs on a temporary file. PostgreSQL runs on LOVEBANK_BENCH_DATABASE_URL or the database
lovebank_bench on 127.0.0.1:5432 (created when missing, its schema wiped first); without a server
that part is skipped with a note. The last line printed is one JSON object.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import cProfile
import io
import itertools
import logging
import pstats
import random
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bench.common import asyncpg_dsn, emit, machine, median, postgres_url, sqlite_path, sqlite_url, timed
from bot.db import Database
from bot.migrate import upgrade
from bot.services import Services
from bot.settings import Settings
from models import Account

MIX = {"earn": 40, "hold": 30, "post": 20, "void": 10}
PEOPLE = 20
FUNDING = 10**12  # holds never run short: the guard is evaluated, never refused
TARGET_RATIO = 0.40


@dataclass(frozen=True)
class Op:
    kind: str
    person: int = 0
    amount: int = 0
    hold: int = -1  # for post/void: which earlier hold of the same plan (its index among holds)


def make_plan(n: int, seed: int) -> list[Op]:
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    plan: list[Op] = []
    open_holds: list[int] = []
    holds = 0
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind in ("post", "void") and open_holds:
            plan.append(Op(kind, hold=open_holds.pop(rng.randrange(len(open_holds)))))
            continue
        if kind != "earn":
            kind = "hold"
            open_holds.append(holds)
            holds += 1
        plan.append(Op(kind, rng.randrange(PEOPLE), rng.randint(1, 50)))
    return plan


# --- the services ---------------------------------------------------------------------------------

class Runner(abc.ABC):
    """Runs a plan in slices, so two runners can take turns through the same plan."""

    name = ""

    def start(self, tag: str) -> None:
        self.tag, self.pending = tag, []  # pending: the plan's holds, by their index among holds

    async def run(self, plan: list[Op], start: int = 0) -> None:
        for i, op in enumerate(plan, start):
            await self.step(f"{self.tag}:{i}", op)

    @abc.abstractmethod
    async def step(self, key: str, op: Op) -> None:
        """One operation of the plan, in its own transaction."""


class ServicesRunner(Runner):
    name = "services"

    def __init__(self, services: Services, community_id: int, people: list[int]) -> None:
        self.services, self.community_id, self.people = services, community_id, people

    async def step(self, key: str, op: Op) -> None:
        tx, ledger, cid = self.services.db.transaction, self.services.ledger, self.community_id
        if op.kind == "earn":
            await tx(lambda s: ledger.earn(
                s, community_id=cid, person_id=self.people[op.person], amount=op.amount, key=key))
        elif op.kind == "hold":
            held = await tx(lambda s: ledger.hold(
                s, community_id=cid, person_id=self.people[op.person], amount=op.amount, key=key))
            self.pending.append(held.id)
        elif op.kind == "post":
            await tx(lambda s: ledger.post(s, pending_id=self.pending[op.hold], key=key))
        else:
            await tx(lambda s: ledger.void(s, pending_id=self.pending[op.hold], key=key))

    async def close(self) -> None:
        pass


# --- the baseline: the same statements, plain driver ----------------------------------------------

INSERT = (
    "INSERT INTO transfers (community_id, debit_account_id, credit_account_id, amount, kind, phase,"
    " pending_id, idempotency_key, ref_type, ref_id, actor_id, reason, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
)
DEBIT_GUARDED = (
    "UPDATE accounts SET posted = posted - ? WHERE id = ?"
    " AND (kind NOT IN ('person', 'pool') OR posted - pending >= ?)"
)
DEBIT = "UPDATE accounts SET posted = posted - ? WHERE id = ?"
CREDIT = "UPDATE accounts SET posted = posted + ? WHERE id = ?"
HOLD = "UPDATE accounts SET pending = pending + ? WHERE id = ? AND posted - pending >= ?"
RELEASE = "UPDATE accounts SET pending = pending - ? WHERE id = ?"
LOAD_HOLD = (
    "SELECT id, kind, phase, debit_account_id, credit_account_id, amount, pending_id, community_id,"
    " ref_type, ref_id FROM transfers WHERE id = ?"
)


class BaselineRunner(Runner):
    """The ledger's transactions by hand. Subclasses supply the driver calls."""

    name = "baseline"

    def __init__(self, community_id: int, accounts: list[int], issuance: int, supermarket: int) -> None:
        self.community_id, self.people = community_id, accounts  # people's account ids
        self.issuance, self.supermarket = issuance, supermarket

    async def begin(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    async def fetchone(self, sql: str, *args: Any) -> Any: ...
    async def rowcount(self, sql: str, *args: Any) -> int: ...
    def now(self) -> Any: ...

    async def _transfer_row(self, debit: int, credit: int, amount: int, kind: str, phase: str,
                            pending_id: int | None, key: str) -> int:
        row = await self.fetchone(INSERT, self.community_id, debit, credit, amount, kind, phase, pending_id,
                                  key, None, None, None, None, self.now())
        if row is None:
            raise RuntimeError("idempotency key taken")
        return row[0]

    async def _move_posted(self, debit: int, credit: int, amount: int, guard: bool) -> None:
        for account in sorted((debit, credit)):  # id order, as the ledger does
            if account == debit:
                changed = await (self.rowcount(DEBIT_GUARDED, amount, debit, amount) if guard
                                 else self.rowcount(DEBIT, amount, debit))
                if changed != 1:
                    raise RuntimeError("insufficient points")
            else:
                await self.rowcount(CREDIT, amount, credit)

    async def _one(self, work: Any) -> Any:
        await self.begin()
        try:
            result = await work()
            await self.commit()
            return result
        except BaseException:
            await self.rollback()
            raise

    async def step(self, key: str, op: Op) -> None:
        if op.kind == "earn":
            await self._one(lambda: self.earn(self.people[op.person], op.amount, key))
        elif op.kind == "hold":
            self.pending.append(await self._one(lambda: self.hold(self.people[op.person], op.amount, key)))
        else:
            await self._one(lambda: self.resolve(self.pending[op.hold], op.kind, key))

    async def earn(self, person: int, amount: int, key: str) -> int:
        new_id = await self._transfer_row(self.issuance, person, amount, "earn", "posted", None, key)
        await self._move_posted(self.issuance, person, amount, guard=True)
        return new_id

    async def hold(self, person: int, amount: int, key: str) -> int:
        new_id = await self._transfer_row(person, self.supermarket, amount, "redeem", "pending", None, key)
        if await self.rowcount(HOLD, amount, person, amount) != 1:
            raise RuntimeError("insufficient points")
        return new_id

    async def resolve(self, pending_id: int, phase: str, key: str) -> int:
        hold = await self.fetchone(LOAD_HOLD, pending_id)
        if hold is None or hold[2] != "pending":
            raise RuntimeError("no hold")
        _, kind, _, debit, credit, amount, *_ = hold
        new_id = await self._transfer_row(debit, credit, amount, kind, phase, pending_id, key)
        await self.rowcount(RELEASE, amount, debit)
        if phase == "post":
            await self._move_posted(debit, credit, amount, guard=False)
        return new_id


class SqliteBaseline(BaselineRunner):
    async def open(self, path: str) -> None:
        import aiosqlite

        # The same connection settings as bot.db: autocommit driver, our own BEGIN IMMEDIATE.
        self.conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
            await self.conn.execute(f"PRAGMA {pragma}")

    async def begin(self) -> None:
        await self.conn.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        await self.conn.execute("ROLLBACK")

    async def fetchone(self, sql: str, *args: Any) -> Any:
        cursor = await self.conn.execute(sql, args)
        return await cursor.fetchone()

    async def rowcount(self, sql: str, *args: Any) -> int:
        cursor = await self.conn.execute(sql, args)
        return cursor.rowcount

    def now(self) -> str:
        # What SQLAlchemy's DateTime stores on SQLite for a naive UTC value.
        return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")

    async def close(self) -> None:
        await self.conn.close()


def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's $1, $2, ..."""
    n = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(n)}", sql)


class PostgresBaseline(BaselineRunner):
    async def open(self, url: str) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(asyncpg_dsn(url))
        self.sql: dict[str, str] = {}

    def _pg(self, sql: str) -> str:
        found = self.sql.get(sql)
        if found is None:
            found = self.sql[sql] = numbered(sql)
        return found

    async def begin(self) -> None:
        self.tx = self.conn.transaction()
        await self.tx.start()

    async def commit(self) -> None:
        await self.tx.commit()

    async def rollback(self) -> None:
        await self.tx.rollback()

    async def fetchone(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchrow(self._pg(sql), *args)

    async def rowcount(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(self._pg(sql), *args)
        return int(status.rsplit(" ", 1)[1])

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    async def close(self) -> None:
        await self.conn.close()


# --- one database -----------------------------------------------------------------------------------

async def _community(services: Services, name: str) -> tuple[int, list[int]]:
    """A community and its funded people, made through the services (not timed)."""
    people = services.people
    community = await people.create_community(name)
    worker, _ = await people.identify("console", f"{name}-worker", display_name="社工")
    await people.appoint_worker(None, community.id, worker.id)
    code = await people.create_invite(worker.id, community.id, role="resident")
    ids = []
    for i in range(PEOPLE):
        person, _ = await people.identify("console", f"{name}-{i}", display_name=f"居民{i}")
        await people.join(person.id, code)
        await services.db.run(services.db.transaction, lambda s, p=person.id: services.ledger.earn(
            s, community_id=community.id, person_id=p, amount=FUNDING, key=f"{name}:fund:{p}"))
        ids.append(person.id)
    return community.id, ids


async def _balances(services: Services, community_id: int, people: list[int]) -> list[tuple[int, int]]:
    with services.db.uow() as session:
        rows = dict(((r.person_id, (r.posted, r.pending)) for r in (session.execute(
            select(Account.person_id, Account.posted, Account.pending).where(Account.community_id == community_id)
        )).all()))
    return [rows[p] for p in people]


async def driver_calls_per_op(runners: list[Runner], plan: list[Op]) -> dict[str, float] | None:
    """SQLite: calls handed to aiosqlite's worker thread per operation, each a thread round trip;
    this count, not SQL, is what separates the two on SQLite. Untimed; None if aiosqlite's
    internals differ from what this counts."""
    import aiosqlite.core

    original = getattr(aiosqlite.core.Connection, "_execute", None)
    if original is None:
        return None
    calls = 0

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(self, fn, *args, **kwargs)

    out = {}
    aiosqlite.core.Connection._execute = counted
    try:
        for runner in runners:
            runner.start(f"{runner.name}:count")
            calls = 0
            await runner.run(plan)
            out[runner.name] = round(calls / len(plan), 2)
    finally:
        aiosqlite.core.Connection._execute = original
    return out


async def bench_database(url: str, args: argparse.Namespace) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    try:
        svc_cid, svc_people = await _community(services, "bench-services")
        raw_cid, raw_people = await _community(services, "bench-baseline")
        with services.db.uow() as session:
            rows = (session.execute(
                select(Account.kind, Account.person_id, Account.id).where(Account.community_id == raw_cid)
            )).all()
        system = {kind: account for kind, person, account in rows if person is None}
        by_person = {person: account for _, person, account in rows if person is not None}
        # The baseline works on account ids directly, as hand-written SQL would.
        accounts = [by_person[p] for p in raw_people]
        baseline: BaselineRunner
        if services.db.sqlite:
            baseline = SqliteBaseline(raw_cid, accounts, system["issuance"], system["supermarket"])
            await baseline.open(sqlite_path(url))
        else:
            baseline = PostgresBaseline(raw_cid, accounts, system["issuance"], system["supermarket"])
            await baseline.open(url)
        runners: list[Runner] = [ServicesRunner(services, svc_cid, svc_people), baseline]
        try:
            for runner in runners:  # statement caches, prepared statements, the pool
                runner.start(f"{runner.name}:warmup")
                await runner.run(make_plan(args.warmup, seed=-1))
            rates: dict[str, list[float]] = {r.name: [] for r in runners}
            profile = cProfile.Profile() if args.profile else None
            for repeat in range(args.repeats):
                plan = make_plan(args.ops, seed=args.seed + repeat)
                seconds = dict.fromkeys(rates, 0.0)
                for runner in runners:
                    runner.start(f"{runner.name}:{repeat}")
                # The two take turns slice by slice, each slice started by the other in turn,
                # so a busy neighbour or a growing table weighs on both alike.
                for n, start in enumerate(range(0, len(plan), args.slice)):
                    part = plan[start:start + args.slice]
                    for runner in runners if n % 2 == 0 else runners[::-1]:
                        if profile is not None and runner.name == "services":
                            profile.enable()
                        seconds[runner.name] += await timed(lambda: runner.run(part, start))
                        if profile is not None:
                            profile.disable()
                for name, spent in seconds.items():
                    rates[name].append(len(plan) / spent)
            calls = await driver_calls_per_op(runners, make_plan(200, seed=-2)) if services.db.sqlite else None
        finally:
            await baseline.close()
        # Same plans, same starting balances: the two communities must end the same, or the
        # baseline did not do the same work.
        same = await _balances(services, svc_cid, svc_people) == await _balances(services, raw_cid, raw_people)
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue(), file=sys.stderr)
    finally:
        await services.db.dispose()
    svc, raw = median(rates["services"]), median(rates["baseline"])
    return {
        "services_ops_per_s": round(svc, 1),
        "baseline_ops_per_s": round(raw, 1),
        # The median of each repeat's own ratio: both halves of a repeat ran side by side.
        "ratio": round(median([s / b for s, b in zip(rates["services"], rates["baseline"])]), 3),
        "services_ops_per_s_runs": [round(r, 1) for r in rates["services"]],
        "baseline_ops_per_s_runs": [round(r, 1) for r in rates["baseline"]],
        "same_end_state": same,
        **({"driver_calls_per_op": calls} if calls else {}),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plans = [make_plan(args.ops, seed=args.seed + repeat) for repeat in range(args.repeats)]
    ran = {kind: sum(op.kind == kind for plan in plans for op in plan) for kind in MIX}
    out: dict[str, Any] = {
        "bench": "ledger", "ops_per_repeat": args.ops, "repeats": args.repeats, "mix_percent": MIX,
        "mix_ran_total": ran, "machine": machine(), "target_ratio_at_least": TARGET_RATIO,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = await bench_database(sqlite_url(tmp), args)
    print(f"sqlite: {out['sqlite']}", file=sys.stderr)
    if args.no_postgres:
        out["postgresql"] = {"skipped": "--no-postgres"}
    else:
        url, why = await postgres_url("lovebank_bench")
        if url is None:
            out["postgresql"] = {"skipped": why}
        else:
            out["postgresql"] = {**await bench_database(url, args), "database": why}
        print(f"postgresql: {out['postgresql']}", file=sys.stderr)
    measured = [db for db in ("sqlite", "postgresql") if "ratio" in out[db]]
    out["sqlite_ratio"] = out["sqlite"]["ratio"]
    out["postgresql_ratio"] = out["postgresql"].get("ratio")
    out["target_met"] = all(out[db]["ratio"] >= TARGET_RATIO for db in measured)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000, help="operations per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--slice", type=int, default=50, help="operations per turn")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the services runs, to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    emit(asyncio.run(run(args)))
    return 0
