"""`python -m bench.shop`: the love supermarket through the services on SQLite and PostgreSQL.

- cycle: one buyer after another, redeem → approve → pickup, each its own transaction; median
  milliseconds per step and full cycles per second.
- race: 100 buyers at once for the last 5 of an item; wall time, and how many got one (must be 5).
- rush: 200 buyers at once for an item with plenty in stock; redemptions per second.
- expire: the expire-holds job over every redemption the run left open (200 + 5); seconds.

SQLite runs on a temporary file. PostgreSQL runs on LOVEBANK_BENCH_DATABASE_URL or the database
lovebank_bench_shop on 127.0.0.1:5432 (created when missing, its schema wiped first); without a
server that part is skipped with a note. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any

from bench.common import check, postgres_url, sqlite_url
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.errors import OutOfStock
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import Membership, Person


class MovableClock(Clock):
    """Real time, plus a jump forward for the expiry run."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self):  # type: ignore[no-untyped-def]
        return super().now() + self.offset


async def _services(url: str) -> Services:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    return Services(Database(url), settings, MovableClock())


async def _community(services: Services, tag: str, buyers: int) -> tuple[int, int, int, list[int]]:
    """A community with two workers and `buyers` funded volunteers, made directly (setup, not measured)."""
    _admin, _ = await services.run(services.people.identify, "console", f"admin-{tag}", display_name="admin")
    community = await services.run(services.people.create_community, f"Bench {tag}")
    workers = []
    for i in range(2):
        worker, _ = await services.run(services.people.identify, "console", f"w{i}-{tag}", display_name=f"w{i}")
        await services.run(services.people.appoint_worker, None, community.id, worker.id)
        workers.append(worker.id)

    def work(session) -> list[int]:  # type: ignore[no-untyped-def]
        now, ids = services.clock.now(), []
        for i in range(buyers):
            person = Person(
                display_name=f"b{i}", locale="zh-CN", is_admin=False, community_id=community.id, created_at=now
            )
            session.add(person)
            session.flush()
            session.add(
                Membership(
                    person_id=person.id, community_id=community.id, role="volunteer", confirmed=True, joined_at=now
                )
            )
            services.ledger.earn(
                session,
                community_id=community.id,
                person_id=person.id,
                amount=1_000_000,
                key=f"bench:{tag}:{person.id}",
            )
            ids.append(person.id)
        return ids

    return community.id, workers[0], workers[1], await services.db.run(services.db.transaction, work)


async def _cycle(services: Services, n: int) -> dict[str, Any]:
    cid, w1, w2, buyers = await _community(services, "cycle", 20)
    item = (await services.run(services.shop.add_item, w1, cid, "大米5kg", 100, n)).id
    steps: dict[str, list[float]] = {"redeem": [], "approve": [], "pickup": []}
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        outcome = await services.run(services.shop.redeem, buyers[i % len(buyers)], cid, item, 1)
        t1 = time.perf_counter()
        approved = await services.run(services.shop.approve, w1, outcome.redemption.id)
        t2 = time.perf_counter()
        done = await services.run(services.shop.pickup, w2, cid, approved.redemption.pickup_code or "")
        t3 = time.perf_counter()
        # A replay ("it was already so") would time no work: each step must have changed it.
        check(
            outcome.changed and approved.changed and done.changed and done.redemption.status == "done",
            f"cycle {i}: redemption R{outcome.redemption.id} ended {done.redemption.status}",
        )
        for name, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            steps[name].append(took)
    wall = time.perf_counter() - started
    return {
        "cycles": n,
        "cycles_per_s": round(n / wall, 1),
        "median_ms": {name: round(statistics.median(v) * 1000, 2) for name, v in steps.items()},
    }


async def _race(services: Services) -> dict[str, Any]:
    cid, w1, _, buyers = await _community(services, "race", 100)
    item = (await services.run(services.shop.add_item, w1, cid, "食用油", 80, 5)).id
    started = time.perf_counter()
    results = await asyncio.gather(
        *(services.run(services.shop.redeem, b, cid, item, 1) for b in buyers), return_exceptions=True
    )
    wall = time.perf_counter() - started
    refused = [r for r in results if isinstance(r, BaseException)]
    errors = {type(r).__name__ for r in refused if not isinstance(r, OutOfStock)}
    check(not errors, f"race: errors besides out of stock: {errors}")
    # Stock 5: exactly 5 buyers get one, whatever the interleaving; more is an oversell, fewer a
    # lost sale.
    succeeded = len(results) - len(refused)
    check(succeeded == 5, f"race: {succeeded} of {len(buyers)} buyers got one of the last 5")
    return {"buyers": len(buyers), "left": 5, "succeeded": succeeded, "seconds": round(wall, 3)}


async def _rush(services: Services) -> tuple[dict[str, Any], int]:
    cid, w1, _, buyers = await _community(services, "rush", 200)
    item = (await services.run(services.shop.add_item, w1, cid, "毛巾", 20, 10_000)).id
    started = time.perf_counter()
    results = await asyncio.gather(
        *(services.run(services.shop.redeem, b, cid, item, 1) for b in buyers), return_exceptions=True
    )
    wall = time.perf_counter() - started
    failed = [r for r in results if isinstance(r, BaseException)]
    check(not failed, f"rush: {len(failed)} redemptions failed: {failed[:3]!r}")
    return {"buyers": len(buyers), "seconds": round(wall, 3), "redemptions_per_s": round(len(buyers) / wall, 1)}, cid


async def _expire(services: Services, left_open: int) -> dict[str, Any]:
    services.clock.offset += timedelta(days=services.settings.hold_expiry_days + 1)  # type: ignore[attr-defined]
    started = time.perf_counter()
    expired = await services.run(services.shop.expire_holds)
    check(expired == left_open, f"expire: {expired} of the {left_open} open redemptions expired")
    return {"expired": expired, "seconds": round(time.perf_counter() - started, 3)}


async def _run(url: str, cycles: int) -> dict[str, Any]:
    services = await _services(url)
    try:
        result = {"cycle": await _cycle(services, cycles), "race": await _race(services)}
        result["rush"], _ = await _rush(services)
        # The race's 5 and the rush's buyers are still open.
        result["expire"] = await _expire(services, result["race"]["succeeded"] + result["rush"]["buyers"])
        return result
    finally:
        await services.db.dispose()


async def _main(cycles: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "shop",
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }
    with tempfile.TemporaryDirectory() as directory:
        result["sqlite"] = await _run(sqlite_url(directory), cycles)
    url, note = await postgres_url("lovebank_bench_shop")
    result["postgresql"] = await _run(url, cycles) if url else {"skipped": note}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shop", description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=100, help="sequential redeem → approve → pickup cycles")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args.cycles)), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
