"""`python -m bench ledger`: ledger operations per second through the services, against the same
transactions on the raw synchronous driver (the driver's floor).

The mix is 40% earn, 30% hold, 20% post, 10% void (a post or void needs an open hold; when there
is none a hold is made instead, and the JSON reports the mix that ran). Each operation is its own
transaction. The services run as the app runs them: one hand-off to a database thread per
operation, `services.db.run(services.db.transaction, lambda s: services.ledger.earn(s, ...))`.
The baseline sends the ledger's own statements (INSERT ... ON CONFLICT DO NOTHING RETURNING, the
guarded UPDATEs, the two-sided move, the hold lookup) through a plain `sqlite3` connection with
explicit BEGIN IMMEDIATE / COMMIT, or a plain psycopg 3 connection, called directly: no thread,
no SQLAlchemy. Both run the same plan, alternating slice by slice, several times; figures are
medians, and `ratio` is services / raw driver (target: at least 0.4 on both databases). At the
end every balance must be what the plan says, in every community, or the run fails (exit 1).
A third runner makes the same service calls without the hand-off (`services_in_caller`, not how
the app runs), which splits the services' time between SQLAlchemy and the hand-off.

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
import logging
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select

from bench.common import asyncpg_dsn, check, emit, machine, median, postgres_url, sqlite_path, sqlite_url
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import Account, Transfer

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


def expected_balances(plans: list[list[Op]]) -> dict[int, tuple[int, int]]:
    """(posted, pending) of each person (by index) after the plans, starting from FUNDING."""
    posted, pending = [FUNDING] * PEOPLE, [0] * PEOPLE
    for plan in plans:
        holds = [op for op in plan if op.kind == "hold"]
        for op in plan:
            if op.kind == "earn":
                posted[op.person] += op.amount
            elif op.kind == "hold":
                pending[op.person] += op.amount
            else:
                held = holds[op.hold]
                pending[held.person] -= held.amount
                if op.kind == "post":
                    posted[held.person] -= held.amount
    return {i: (posted[i], pending[i]) for i in range(PEOPLE)}


# --- the services ---------------------------------------------------------------------------------


class Runner(abc.ABC):
    """Runs a plan in slices, so two runners can take turns through the same plan."""

    name = ""

    def start(self, tag: str) -> None:
        self.tag, self.pending = tag, []  # pending: the plan's holds, by their index among holds

    @abc.abstractmethod
    async def run(self, plan: list[Op], start: int = 0) -> None:
        """The slice, each operation in its own transaction."""


class ServicesRunner(Runner):
    name = "services"

    def __init__(self, services: Services, community_id: int, people: list[int]) -> None:
        self.services, self.community_id, self.people = services, community_id, people

    async def run(self, plan: list[Op], start: int = 0) -> None:
        db, ledger, cid = self.services.db, self.services.ledger, self.community_id
        run, tx = db.run, db.transaction
        for i, op in enumerate(plan, start):
            key = f"{self.tag}:{i}"
            if op.kind == "earn":
                person = self.people[op.person]
                await run(tx, partial(ledger.earn, community_id=cid, person_id=person, amount=op.amount, key=key))
            elif op.kind == "hold":
                person = self.people[op.person]
                held = await run(
                    tx, partial(ledger.hold, community_id=cid, person_id=person, amount=op.amount, key=key)
                )
                self.pending.append(held.id)
            elif op.kind == "post":
                hold = self.pending[op.hold]
                await run(tx, partial(ledger.post, pending_id=hold, key=key))
            else:
                hold = self.pending[op.hold]
                await run(tx, partial(ledger.void, pending_id=hold, key=key))


class InCallerRunner(ServicesRunner):
    """The same service calls with no hand-off (on the event loop's thread): not how the app runs,
    only to split the services' time between SQLAlchemy and the hand-off to the database thread."""

    name = "services_in_caller"

    async def run(self, plan: list[Op], start: int = 0) -> None:
        ledger, cid, tx = self.services.ledger, self.community_id, self.services.db.transaction
        for i, op in enumerate(plan, start):
            key = f"{self.tag}:{i}"
            if op.kind == "earn":
                person = self.people[op.person]
                tx(partial(ledger.earn, community_id=cid, person_id=person, amount=op.amount, key=key))
            elif op.kind == "hold":
                person = self.people[op.person]
                held = tx(partial(ledger.hold, community_id=cid, person_id=person, amount=op.amount, key=key))
                self.pending.append(held.id)
            else:
                hold = self.pending[op.hold]
                resolve = ledger.post if op.kind == "post" else ledger.void
                tx(partial(resolve, pending_id=hold, key=key))


# --- the baseline: the ledger's statements, raw synchronous driver --------------------------------

INSERT = (
    "INSERT INTO transfers (community_id, debit_account_id, credit_account_id, amount, kind, phase,"
    " pending_id, idempotency_key, ref_type, ref_id, actor_id, reason, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
)
# Both sides of a posted move in one statement, returning each row's new available points, as
# bot/ledger/service.py does; the guard lets a person's or the pool's debit through only when
# it is affordable.
MOVE = (
    "UPDATE accounts SET posted = posted + CASE WHEN id = ? THEN ? ELSE -? END WHERE id IN (?, ?)"
    " RETURNING id, posted - pending"
)
MOVE_GUARDED = (
    "UPDATE accounts SET posted = posted + CASE WHEN id = ? THEN ? ELSE -? END WHERE id IN (?, ?)"
    " AND (id != ? OR kind NOT IN ('person', 'pool') OR posted - pending >= ?) RETURNING id, posted - pending"
)
HOLD = "UPDATE accounts SET pending = pending + ? WHERE id = ? AND posted - pending >= ?"
RELEASE = "UPDATE accounts SET pending = pending - ? WHERE id = ?"
LOAD_HOLD = (
    "SELECT id, kind, phase, debit_account_id, credit_account_id, amount, pending_id, community_id,"
    " ref_type, ref_id FROM transfers WHERE id = ?"
)


class BaselineRunner(Runner):
    """The ledger's transactions by hand, called directly on the event loop's thread: no hand-off,
    no ORM, the floor any implementation on this driver can reach. Subclasses open the connection
    and say how a statement is sent."""

    name = "raw_driver"
    placeholder = "?"

    def __init__(self, community_id: int, accounts: list[int], issuance: int, supermarket: int) -> None:
        self.community_id, self.people = community_id, accounts  # people's account ids
        self.issuance, self.supermarket = issuance, supermarket
        self.sql = {
            name: sql.replace("?", self.placeholder)
            for name, sql in (
                ("insert", INSERT),
                ("move", MOVE),
                ("move_guarded", MOVE_GUARDED),
                ("hold", HOLD),
                ("release", RELEASE),
                ("load_hold", LOAD_HOLD),
            )
        }

    @abc.abstractmethod
    def execute(self, sql: str, args: tuple[Any, ...]) -> Any:
        """A cursor that ran `sql`."""

    @abc.abstractmethod
    def begin(self) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def now(self) -> Any: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    async def run(self, plan: list[Op], start: int = 0) -> None:
        for i, op in enumerate(plan, start):
            key = f"{self.tag}:{i}"
            self.begin()
            try:
                if op.kind == "earn":
                    self.earn(self.people[op.person], op.amount, key)
                elif op.kind == "hold":
                    self.pending.append(self.hold(self.people[op.person], op.amount, key))
                else:
                    self.resolve(self.pending[op.hold], op.kind, key)
                self.commit()
            except BaseException:
                self.rollback()
                raise

    def _transfer_row(
        self, debit: int, credit: int, amount: int, kind: str, phase: str, pending_id: int | None, key: str
    ) -> int:
        row = self.execute(
            self.sql["insert"],
            (
                self.community_id,
                debit,
                credit,
                amount,
                kind,
                phase,
                pending_id,
                key,
                None,
                None,
                None,
                None,
                self.now(),
            ),
        ).fetchone()
        check(row is not None, f"idempotency key {key} taken")
        return row[0]

    def _move(self, debit: int, credit: int, amount: int, guard: bool) -> None:
        if guard:
            rows = self.execute(self.sql["move_guarded"], (credit, amount, amount, debit, credit, debit, amount))
        else:
            rows = self.execute(self.sql["move"], (credit, amount, amount, debit, credit))
        moved = dict(rows.fetchall())
        check(debit in moved, "insufficient points")

    def earn(self, person: int, amount: int, key: str) -> int:
        new_id = self._transfer_row(self.issuance, person, amount, "earn", "posted", None, key)
        self._move(self.issuance, person, amount, guard=True)
        return new_id

    def hold(self, person: int, amount: int, key: str) -> int:
        new_id = self._transfer_row(person, self.supermarket, amount, "redeem", "pending", None, key)
        check(self.execute(self.sql["hold"], (amount, person, amount)).rowcount == 1, "insufficient points")
        return new_id

    def resolve(self, pending_id: int, phase: str, key: str) -> int:
        hold = self.execute(self.sql["load_hold"], (pending_id,)).fetchone()
        check(hold is not None and hold[2] == "pending", f"no open hold {pending_id}")
        _, kind, _, debit, credit, amount, *_ = hold
        new_id = self._transfer_row(debit, credit, amount, kind, phase, pending_id, key)
        self.execute(self.sql["release"], (amount, debit))
        if phase == "post":
            self._move(debit, credit, amount, guard=False)
        return new_id


class SqliteBaseline(BaselineRunner):
    def open(self, path: str) -> None:
        # The same connection settings as bot.kernel.db: autocommit driver, our own BEGIN IMMEDIATE.
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")

    def execute(self, sql: str, args: tuple[Any, ...]) -> Any:
        return self.conn.execute(sql, args)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def now(self) -> str:
        # What SQLAlchemy's DateTime stores on SQLite for a naive UTC value.
        return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")

    def close(self) -> None:
        self.conn.close()


class PostgresBaseline(BaselineRunner):
    placeholder = "%s"

    def open(self, url: str) -> None:
        import psycopg

        # Not autocommit: the first statement opens the transaction, as under SQLAlchemy; psycopg
        # prepares a statement server-side from its fifth use on.
        self.conn = psycopg.connect(asyncpg_dsn(url))

    def execute(self, sql: str, args: tuple[Any, ...]) -> Any:
        return self.conn.execute(sql, args)

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    def close(self) -> None:
        self.conn.close()


# --- one database -----------------------------------------------------------------------------------


async def _community(services: Services, name: str) -> tuple[int, list[int]]:
    """A community and its funded people, made through the services (not timed)."""
    people = services.people
    community = await services.run(people.create_community, name)
    worker, _ = await services.run(people.identify, "console", f"{name}-worker", display_name="社工")
    await services.run(people.appoint_worker, None, community.id, worker.id)
    code = await services.run(people.create_invite, worker.id, community.id, role="resident")
    ids = []
    for i in range(PEOPLE):
        person, _ = await services.run(people.identify, "console", f"{name}-{i}", display_name=f"居民{i}")
        await services.run(people.join, person.id, code)
        await services.db.run(
            services.db.transaction,
            lambda s, p=person.id: services.ledger.earn(
                s, community_id=community.id, person_id=p, amount=FUNDING, key=f"{name}:fund:{p}"
            ),
        )
        ids.append(person.id)
    return community.id, ids


def _balances(services: Services, community_id: int, people: list[int]) -> dict[int, tuple[int, int]]:
    """(posted, pending) of each person (by index), read after the run (not timed)."""
    with services.db.read() as session:
        rows = {
            r.person_id: (r.posted, r.pending)
            for r in session.execute(
                select(Account.person_id, Account.posted, Account.pending).where(Account.community_id == community_id)
            )
        }
    return {i: rows[p] for i, p in enumerate(people)}


def _transfers(services: Services, community_id: int) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(Transfer).where(Transfer.community_id == community_id))


async def bench_database(url: str, args: argparse.Namespace) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    try:
        svc_cid, svc_people = await _community(services, "bench-services")
        raw_cid, raw_people = await _community(services, "bench-baseline")
        direct_cid, direct_people = await _community(services, "bench-in-caller")
        with services.db.read() as session:
            rows = session.execute(
                select(Account.kind, Account.person_id, Account.id).where(Account.community_id == raw_cid)
            ).all()
        system = {kind: account for kind, person, account in rows if person is None}
        by_person = {person: account for _, person, account in rows if person is not None}
        # The baseline works on account ids directly, as hand-written SQL would.
        accounts = [by_person[p] for p in raw_people]
        baseline: SqliteBaseline | PostgresBaseline
        if services.db.sqlite:
            baseline = SqliteBaseline(raw_cid, accounts, system["issuance"], system["supermarket"])
            baseline.open(sqlite_path(url))
        else:
            baseline = PostgresBaseline(raw_cid, accounts, system["issuance"], system["supermarket"])
            baseline.open(url)
        runners: list[Runner] = [
            ServicesRunner(services, svc_cid, svc_people),
            baseline,
            InCallerRunner(services, direct_cid, direct_people),
        ]
        before = {cid: _transfers(services, cid) for cid in (svc_cid, raw_cid, direct_cid)}
        plans = []
        try:
            warmup = make_plan(args.warmup, seed=-1)
            plans.append(warmup)
            for runner in runners:  # statement caches, prepared statements, the pool, the threads
                runner.start(f"{runner.name}:warmup")
                await runner.run(warmup)
            rates: dict[str, list[float]] = {r.name: [] for r in runners}
            profile = cProfile.Profile() if args.profile else None
            for repeat in range(args.repeats):
                plan = make_plan(args.ops, seed=args.seed + repeat)
                plans.append(plan)
                seconds = dict.fromkeys(rates, 0.0)
                for runner in runners:
                    runner.start(f"{runner.name}:{repeat}")
                # They take turns slice by slice, each slice in a turned order, so a busy
                # neighbour or a growing table weighs on all alike.
                for n, first in enumerate(range(0, len(plan), args.slice)):
                    part = plan[first : first + args.slice]
                    for runner in runners[n % 3 :] + runners[: n % 3]:
                        if profile is not None and isinstance(runner, InCallerRunner):
                            profile.enable()
                        began = time.perf_counter()
                        await runner.run(part, first)
                        seconds[runner.name] += time.perf_counter() - began
                        if profile is not None:
                            profile.disable()
                for name, spent in seconds.items():
                    rates[name].append(len(plan) / spent)
        finally:
            baseline.close()
        # What was timed must have happened: every operation a new transfer, and every balance
        # what the plans say, in both communities.
        expected = expected_balances(plans)
        ops = sum(len(plan) for plan in plans)
        for cid, people, who in (
            (svc_cid, svc_people, "services"),
            (raw_cid, raw_people, "raw driver"),
            (direct_cid, direct_people, "services in caller"),
        ):
            check(_balances(services, cid, people) == expected, f"{who}: balances differ from the plan")
            made = _transfers(services, cid) - before[cid]
            check(made == ops, f"{who}: {made} transfers for {ops} operations")
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(args.profile_sort).print_stats(45)
            print(out.getvalue(), file=sys.stderr)
    finally:
        await services.db.dispose()
    svc, raw = median(rates["services"]), median(rates["raw_driver"])
    return {
        "services_ops_per_s": round(svc, 1),
        "raw_driver_ops_per_s": round(raw, 1),
        # The median of each repeat's own ratio: both halves of a repeat ran side by side.
        "ratio": round(median([s / b for s, b in zip(rates["services"], rates["raw_driver"], strict=True)]), 3),
        "services_ops_per_s_runs": [round(r, 1) for r in rates["services"]],
        "raw_driver_ops_per_s_runs": [round(r, 1) for r in rates["raw_driver"]],
        "balances_checked": True,
        # Where the services' time goes: the same calls without the hand-off (not how the app
        # runs) say what SQLAlchemy and the services cost; the rest is the hand-off.
        "services_in_caller_ops_per_s": round(median(rates["services_in_caller"]), 1),
        "ratio_in_caller": round(
            median([s / b for s, b in zip(rates["services_in_caller"], rates["raw_driver"], strict=True)]), 3
        ),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plans = [make_plan(args.ops, seed=args.seed + repeat) for repeat in range(args.repeats)]
    ran = {kind: sum(op.kind == kind for plan in plans for op in plan) for kind in MIX}
    out: dict[str, Any] = {
        "bench": "ledger",
        "ops_per_repeat": args.ops,
        "repeats": args.repeats,
        "mix_percent": MIX,
        "mix_ran_total": ran,
        "machine": machine(),
        "target_ratio_at_least": TARGET_RATIO,
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
    out["machine"]["load_average_1m_after"] = machine()["load_average_1m"]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000, help="operations per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--slice", type=int, default=50, help="operations per turn")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the services' calls (run in the caller, so the profile sees them), to stderr",
    )
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    emit(asyncio.run(run(args)))
    return 0
