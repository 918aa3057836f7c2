"""`python -m bench history`: /history and /balance for a person with a long history against a
person with a short one, in a community full of other people's transfers.

The heavy person has 2,000 history entries (earns for approved logs, gifts both ways, donations,
redemption holds that were posted or voided); the light person has 20; 300 other volunteers
have 200,000 transfers between them (--scale changes that). Both people's transfers are spread
over the whole id range, so neither is at the top of any index. The data is loaded with bulk
INSERTs whose account balances and lifetime totals are computed alongside (setup, not measured).

Timed through the services, as a handler calls them (one hand-off to a database thread each):
  history_first   services.points.history(person, community, page=0)
  history_later   page 1 (the light person's last page), the same page for the heavy person
  balance         services.points.balance(person, community)
The heavy and light calls alternate, so load on the machine falls on both alike. Every result is
checked against the data: entries, their order, signs, phases, categories and counterparts, the
"older page" flag; balances to the point and minute. Median and p99 per call, and
ratio_2000_over_20 = heavy p99 / light p99 per call (target <= 1.25). The heavy person's page 100
is timed too, for information: an offset page reads the entries before it.

SQLite on a temporary file; PostgreSQL on LOVEBANK_BENCH_DATABASE_URL or lovebank_bench_history
at 127.0.0.1:5432 (its schema wiped first), skipped with a note when no server answers.
The last line printed is one JSON object; a wrong result exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from bench.common import emit, machine, postgres_url, sqlite_url
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import Account, Membership, Person, ServiceCategory, ServiceLog, Transfer

PG_NAME = "lovebank_bench_history"
HEAVY, LIGHT = 2_000, 20
OTHERS = 300
PAGE_SIZE = 10
DEEP_PAGE = 100


@dataclass
class Entry:
    """What one history line must show."""

    id: int
    kind: str
    phase: str
    delta: int
    category: str | None = None
    counterpart: str | None = None


@dataclass
class Book:
    """Running balances of every account touched by the generated transfers."""

    posted: dict[int, int] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)
    earned: dict[int, int] = field(default_factory=dict)
    minutes: dict[int, int] = field(default_factory=dict)

    def add(self, book: dict[int, int], account: int, amount: int) -> None:
        book[account] = book.get(account, 0) + amount

    def available(self, account: int) -> int:
        return self.posted.get(account, 0) - self.pending.get(account, 0)


class Loader:
    """Generates transfers (and the logs behind earns) with explicit ids, keeping the books."""

    def __init__(
        self,
        community: int,
        system: dict[str, int],
        category: tuple[int, str],
        worker: int,
        first_transfer: int,
        first_log: int,
        when: datetime,
    ) -> None:
        self.community, self.system, self.category, self.worker = community, system, category, worker
        self.next_transfer, self.next_log = first_transfer, first_log
        self.when = when
        self.transfers: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.book = Book()

    def _row(
        self,
        debit: int,
        credit: int,
        amount: int,
        kind: str,
        phase: str,
        pending_id: int | None = None,
        ref: tuple[str | None, int | None] = (None, None),
    ) -> int:
        tid = self.next_transfer
        self.next_transfer += 1
        self.when += timedelta(seconds=7)
        self.transfers.append(
            {
                "id": tid,
                "community_id": self.community,
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount": amount,
                "kind": kind,
                "phase": phase,
                "pending_id": pending_id,
                "idempotency_key": f"bench-history:{tid}",
                "ref_type": ref[0],
                "ref_id": ref[1],
                "actor_id": None,
                "reason": None,
                "created_at": self.when,
            }
        )
        b = self.book
        if phase in ("posted", "post"):
            b.add(b.posted, debit, -amount)
            b.add(b.posted, credit, amount)
        if phase == "pending":
            b.add(b.pending, debit, amount)
        if phase in ("post", "void", "expire"):
            b.add(b.pending, debit, -amount)
        return tid

    def earn(self, account: int, person: int, minutes: int) -> Entry:
        log_id, points = self.next_log, minutes * 10 // 60
        self.next_log += 1
        self.logs.append(
            {
                "id": log_id,
                "community_id": self.community,
                "person_id": person,
                "category_id": self.category[0],
                "service_date": self.when.date(),
                "minutes": minutes,
                "points_per_hour": 10,
                "points": points,
                "status": "approved",
                "submitted_by_id": person,
                "recorded_by_worker": False,
                "decided_by_id": self.worker,
                "decided_at": self.when,
                "created_at": self.when,
            }
        )
        tid = self._row(self.system["issuance"], account, points, "earn", "posted", ref=("log", log_id))
        self.book.add(self.book.earned, account, points)
        self.book.add(self.book.minutes, account, minutes)
        return Entry(tid, "earn", "posted", points, category=self.category[1])

    def adjust(self, account: int, amount: int) -> None:
        self._row(self.system["adjustments"], account, amount, "adjust", "posted")

    def gift(self, debit: int, credit: int, amount: int, mine: int, counterpart: str) -> Entry:
        tid = self._row(debit, credit, amount, "gift", "posted")
        return Entry(tid, "gift", "posted", amount if credit == mine else -amount, counterpart=counterpart)

    def donate(self, account: int, amount: int) -> Entry:
        return Entry(self._row(account, self.system["pool"], amount, "donate", "posted"), "donate", "posted", -amount)

    def redeem(self, account: int, amount: int, outcome: str) -> Entry:
        hold = self._row(account, self.system["supermarket"], amount, "redeem", "pending")
        if outcome != "pending":
            self._row(account, self.system["supermarket"], amount, "redeem", outcome, pending_id=hold)
        return Entry(hold, "redeem", outcome, -amount)


def _generate(
    loader: Loader,
    rng: random.Random,
    people: dict[str, tuple[int, int, str]],
    others: list[tuple[int, int, str]],
    background: int,
) -> dict[str, list[Entry]]:
    """The measured people's entries spread evenly through `background` transfers of others."""
    expected: dict[str, list[Entry]] = {name: [] for name in people}
    # Everybody starts with points: the measured people with an earn (their first entry), the
    # others with a worker's correction big enough that their gifts are never refused.
    for name, (person, account, _) in people.items():
        expected[name].append(loader.earn(account, person, 600))
    for _, account, _ in others:
        loader.adjust(account, 10_000)
    schedule = [name for name in people for _ in range((HEAVY if name == "heavy" else LIGHT) - 1)]
    schedule += [None] * background
    rng.shuffle(schedule)
    for who in schedule:
        if who is None:
            person, account, _ = rng.choice(others)
            _, to, _ = rng.choice(others)
            if rng.random() < 0.4:
                loader.earn(account, person, 15 * rng.randrange(2, 9))
            elif to != account:
                loader.gift(account, to, rng.randrange(1, 10), account, "")
            else:
                loader.donate(account, 1)
            continue
        person, account, _ = people[who]
        roll, amount = rng.random(), rng.randrange(1, 10)
        _, other, other_name = rng.choice(others)
        if loader.book.available(account) < 10 or roll < 0.35:
            entry = loader.earn(account, person, 15 * rng.randrange(2, 9))
        elif roll < 0.55:
            entry = loader.gift(account, other, amount, account, other_name)
        elif roll < 0.70:
            entry = loader.gift(other, account, amount, account, other_name)
        elif roll < 0.78:
            entry = loader.donate(account, amount)
        else:
            entry = loader.redeem(account, amount, "post" if roll < 0.93 else "void" if roll < 0.98 else "pending")
        expected[who].append(entry)
    for entries in expected.values():
        entries.reverse()  # newest first, as /history shows them
    return expected


async def _setup(services: Services, scale: float, seed: int) -> dict[str, Any]:
    """The community, its people and every transfer; returns what the checks need."""
    rng = random.Random(seed)
    people = services.people
    community = await services.run(people.create_community, "Bench history")
    worker, _ = await services.run(people.identify, "console", "bench-worker", display_name="worker")
    await services.run(people.appoint_worker, None, community.id, worker.id)
    cid = community.id

    def make(session):  # type: ignore[no-untyped-def]
        now = services.clock.now()

        def volunteer(name: str) -> tuple[int, int, str]:
            person = Person(display_name=name, locale="zh-CN", is_admin=False, community_id=cid, created_at=now)
            session.add(person)
            session.flush()
            session.add(
                Membership(person_id=person.id, community_id=cid, role="volunteer", confirmed=True, joined_at=now)
            )
            return person.id, services.ledger.open_person_account(session, cid, person.id), name

        measured = {"heavy": volunteer("长历史"), "light": volunteer("短历史")}
        others = [volunteer(f"志愿者{i}") for i in range(OTHERS)]
        system = {
            k: services.ledger.system_account(session, cid, k)
            for k in ("issuance", "supermarket", "pool", "adjustments")
        }
        category = tuple(
            session.execute(
                select(ServiceCategory.id, ServiceCategory.name).where(ServiceCategory.community_id == cid).limit(1)
            ).one()
        )
        last_transfer = session.scalar(select(func.coalesce(func.max(Transfer.id), 0)))
        last_log = session.scalar(select(func.coalesce(func.max(ServiceLog.id), 0)))
        return measured, others, system, category, last_transfer, last_log

    measured, others, system, category, last_transfer, last_log = await services.db.run(services.db.transaction, make)
    loader = Loader(
        cid, system, category, worker.id, last_transfer + 1, last_log + 1, services.clock.now() - timedelta(days=400)
    )
    expected = _generate(loader, rng, measured, others, int(200_000 * scale))
    book = loader.book

    def load(session) -> None:  # type: ignore[no-untyped-def]
        for table, rows in ((ServiceLog.__table__, loader.logs), (Transfer.__table__, loader.transfers)):
            for chunk in range(0, len(rows), 5_000):
                session.execute(insert(table), rows[chunk : chunk + 5_000])
        accounts = Account.__table__
        session.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("aid"))
            .values(
                posted=accounts.c.posted + bindparam("p"),
                pending=accounts.c.pending + bindparam("q"),
                earned_points=accounts.c.earned_points + bindparam("e"),
                earned_minutes=accounts.c.earned_minutes + bindparam("m"),
            ),
            [
                {
                    "aid": a,
                    "p": book.posted.get(a, 0),
                    "q": book.pending.get(a, 0),
                    "e": book.earned.get(a, 0),
                    "m": book.minutes.get(a, 0),
                }
                for a in sorted(set(book.posted) | set(book.pending))
            ],
        )
        if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("transfers", "service_logs"):
                session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )

    started = time.perf_counter()
    await services.db.run(services.db.transaction, load)
    await services.db.run(services.db.transaction, lambda s: s.execute(text("ANALYZE")))
    return {
        "community": cid,
        "people": measured,
        "expected": expected,
        "book": book,
        "transfers": len(loader.transfers),
        "load_s": round(time.perf_counter() - started, 1),
    }


# --- the measurement ------------------------------------------------------------------------------


class Wrong(Exception):
    """A timed call returned something other than the data holds."""


def _check_history(got: tuple[list[Any], bool], entries: list[Entry], page: int, who: str) -> None:
    lines, more = got
    want = entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    seen = [Entry(i.transfer_id, i.kind, i.phase, i.delta, i.category, i.counterpart) for i in lines]
    if seen != want or more != (len(entries) > (page + 1) * PAGE_SIZE):
        raise Wrong(
            f"{who} history page {page}: got {seen[:2]}… more={more}, want {want[:2]}… "
            f"more={len(entries) > (page + 1) * PAGE_SIZE}"
        )


def _check_balance(got: Any, book: Book, account: int, who: str) -> None:
    want = (
        book.posted.get(account, 0),
        book.pending.get(account, 0),
        book.earned.get(account, 0),
        book.minutes.get(account, 0),
    )
    if (got.posted, got.pending, got.earned_points, got.earned_minutes) != want:
        raise Wrong(f"{who} balance: got {got}, want {want}")


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def _measure(services: Services, data: dict[str, Any], calls: int) -> dict[str, Any]:
    cid, book = data["community"], data["book"]
    points = services.points

    def history(name: str, page: int):  # type: ignore[no-untyped-def]
        person, _, _ = data["people"][name]
        entries = data["expected"][name]

        async def call() -> None:
            _check_history(await services.run(points.history, person, cid, page, PAGE_SIZE), entries, page, name)

        return call

    def balance(name: str):  # type: ignore[no-untyped-def]
        person, account, _ = data["people"][name]

        async def call() -> None:
            _check_balance(await services.run(points.balance, person, cid), book, account, name)

        return call

    ops = {
        "history_first": {name: history(name, 0) for name in ("heavy", "light")},
        "history_later": {name: history(name, 1) for name in ("heavy", "light")},
        "balance": {name: balance(name) for name in ("heavy", "light")},
    }
    deep = history("heavy", DEEP_PAGE)
    for calls_of in ops.values():  # warm up: statement caches, page cache
        for call in calls_of.values():
            for _ in range(20):
                await call()
    times: dict[tuple[str, str], list[float]] = {(op, name): [] for op in ops for name in ("heavy", "light")}
    deep_times: list[float] = []
    for i in range(calls):
        for op, calls_of in ops.items():
            # Alternate who goes first, so neither always follows the other's warm cache.
            for name in ("heavy", "light") if i % 2 else ("light", "heavy"):
                started = time.perf_counter()
                await calls_of[name]()
                times[op, name].append(time.perf_counter() - started)
        if i % 5 == 0:
            started = time.perf_counter()
            await deep()
            deep_times.append(time.perf_counter() - started)
    result: dict[str, Any] = {}
    for op in ops:
        heavy, light = _stats(times[op, "heavy"]), _stats(times[op, "light"])
        result[op] = {
            "heavy": heavy,
            "light": light,
            "ratio_2000_over_20": round(heavy["p99_ms"] / light["p99_ms"], 3),
            "median_ratio": round(heavy["median_ms"] / light["median_ms"], 3),
        }
    result[f"history_page_{DEEP_PAGE}_heavy"] = _stats(deep_times)
    return result


async def _run(url: str, scale: float, calls: int, seed: int) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings, Clock())
    try:
        data = await _setup(services, scale, seed)
        result = {
            "transfers_loaded": data["transfers"],
            "load_s": data["load_s"],
            "entries": {name: len(e) for name, e in data["expected"].items()},
        }
        result.update(await _measure(services, data, calls))
        result["ratio_2000_over_20"] = max(
            result[op]["ratio_2000_over_20"] for op in ("history_first", "history_later", "balance")
        )
        return result
    finally:
        await services.db.dispose()


async def _wiped_postgres() -> tuple[str | None, str]:
    url, note = await postgres_url(PG_NAME)
    if url is None:
        return None, note
    db = Database(url)
    try:
        with db.engine.begin() as connection:  # a previous run's rows would change the figures
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()
    return url, note


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "history",
        "machine": machine(),
        "scale": args.scale,
        "calls": args.calls,
        "target": {"ratio_2000_over_20_max": 1.25},
    }
    with tempfile.TemporaryDirectory() as directory:
        result["sqlite"] = await _run(sqlite_url(directory), args.scale, args.calls, args.seed)
    if args.sqlite_only:
        result["postgresql"] = {"skipped": "--sqlite-only"}
    else:
        url, note = await _wiped_postgres()
        result["postgresql"] = await _run(url, args.scale, args.calls, args.seed) if url else {"skipped": note}
    ratios = [r["ratio_2000_over_20"] for r in (result["sqlite"], result["postgresql"]) if "skipped" not in r]
    result["ratio_2000_over_20"] = max(ratios)
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench history", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="others' transfers, in units of 200,000")
    parser.add_argument("--calls", type=int, default=500, help="timed calls of each kind, per person")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(_main(args))
    except Wrong as exc:
        print(f"wrong result: {exc}", file=sys.stderr)
        return 1
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
