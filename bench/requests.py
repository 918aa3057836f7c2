"""`python -m bench requests`: the open-requests board (`/requests`) with 10,000 open requests
in the district, on SQLite and PostgreSQL.

The district has 20 communities; one of them, where the volunteer asks, holds a quarter of the
open requests (2,500), the others share the rest. Requests (and a few hundred closed ones) are
written straight into the table as setup. Measured: the whole `/requests` turn through the
dialog engine as a console volunteer sends it (identify, route, query, render), for the first
page, the fifth page, a category filter and a grid filter, `--turns` times each: "browsing"
asks each query that many times in a row (the buttons shown stay the same, so the engine writes
nothing), "paging" goes round the four (the buttons change, so every turn also saves the
person's dialog state). p50, p95, p99 and max in milliseconds; the goal is p99 under 20 ms.

SQLite runs on a temporary file. PostgreSQL runs on LOVEBANK_BENCH_DATABASE_URL or the database
lovebank_bench_requests on 127.0.0.1:5432 (created when missing, its schema wiped first);
without a server that part is skipped with a note. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text

from bench.common import check, emit, machine, postgres_url, sqlite_url
from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import Grid, Membership, Person, ServiceRequest

COMMUNITIES = 20
OPEN = 10_000
CLOSED = 500
GOAL_MS = 20.0
QUERIES = {"first_page": "/requests", "page_5": "/requests 5", "category": "/requests 助洁", "grid": "/requests 一网格"}


async def _district(services: Services) -> Caller:
    """The communities, their grids, requesters and requests; returns the volunteer who browses."""
    ids = [(await services.run(services.people.create_community, f"社区{i:02d}")).id for i in range(COMMUNITIES)]
    home = ids[0]
    worker, _ = await services.run(services.people.identify, "console", "bench-worker", display_name="worker")
    await services.run(services.people.appoint_worker, None, home, worker.id)
    code = await services.run(services.people.create_invite, worker.id, home)
    volunteer, _ = await services.run(services.people.identify, "console", "bench-volunteer", display_name="志愿者")
    await services.run(services.people.join, volunteer.id, code)
    await services.run(services.people.register_volunteer, volunteer.id, home, "志愿者", "13800000000")
    categories = {cid: [c.id for c in await services.run(services.hours.categories, cid)] for cid in ids}

    def work(session) -> None:  # type: ignore[no-untyped-def]
        now = services.clock.now()
        today = now.date()
        grids, requesters = {}, {}
        for cid in ids:
            grid_ids = []
            for g in ("一网格", "二网格", "三网格", "四网格"):
                grid = Grid(community_id=cid, name=g)
                session.add(grid)
                session.flush()
                grid_ids.append(grid.id)
            grids[cid] = grid_ids
            people = []
            for i in range(20):
                person = Person(
                    display_name=f"居民{cid}-{i}", locale="zh-CN", is_admin=False, community_id=cid, created_at=now
                )
                session.add(person)
                session.flush()
                session.add(
                    Membership(person_id=person.id, community_id=cid, role="resident", confirmed=True, joined_at=now)
                )
                people.append(person.id)
            requesters[cid] = people
        # A quarter of the open requests in the volunteer's community, the rest spread evenly.
        share = [OPEN // 4] + [(OPEN - OPEN // 4) // (COMMUNITIES - 1)] * (COMMUNITIES - 1)
        share[-1] += OPEN - sum(share)
        rows = []
        for cid, count in zip(ids, share, strict=True):
            for i in range(count + (CLOSED // COMMUNITIES)):
                who = requesters[cid][i % 20]
                closed = i >= count
                rows.append(
                    {
                        "community_id": cid,
                        "requester_id": who,
                        "poster_id": who,
                        "category_id": categories[cid][i % len(categories[cid])],
                        "service_date": today + timedelta(days=1 + i % 30),
                        "slot": ("morning", "afternoon", "any")[i % 3],
                        "minutes": 60 + 30 * (i % 4),
                        "note": f"需要帮忙 {i}",
                        "grid_id": grids[cid][i % 4],
                        "address": f"{i % 30 + 1}栋{i % 6 + 1}0{i % 4 + 1}",
                        "payer": ("own", "community", "pool")[i % 3],
                        "points_per_hour": 10,
                        "held": 0,
                        "status": "paid" if closed else "open",
                        "requester_shares_phone": False,
                        "taker_shares_phone": False,
                        "created_at": now - timedelta(minutes=i),
                    }
                )
        for start in range(0, len(rows), 1000):
            session.execute(insert(ServiceRequest), rows[start : start + 1000])

    await services.db.run(services.db.transaction, work)
    if not services.db.sqlite:
        with services.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return Caller("console", "bench-volunteer", display_name="志愿者", handle="bench-volunteer")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 2),
    }


async def _run(url: str, turns: int) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    try:
        caller = await _district(services)
        dialogs = Dialogs(services)
        for line in QUERIES.values():  # warm caches and check each query answers with a page
            turn = await dialogs.handle(caller, Input(text=line))
            check(turn.replies[0].text.key == "requests.page", f"{line}: {turn.replies[0].text}")

        async def measure(order: list[str]) -> dict[str, list[float]]:
            samples: dict[str, list[float]] = {name: [] for name in QUERIES}
            for name in order:
                started = time.perf_counter()
                turn = await dialogs.handle(caller, Input(text=QUERIES[name]))
                dialogs.render(turn.locale, turn.replies)
                check(turn.replies[0].text.key == "requests.page", f"{name}: {turn.replies[0].text}")
                samples[name].append(time.perf_counter() - started)
            return samples

        result: dict[str, Any] = {}
        # browsing: each query asked `turns` times in a row, as many volunteers opening the same
        # board do; the buttons shown do not change, so the dialog engine writes nothing.
        # paging: the four queries in turn; the buttons change every time, so every turn also
        # writes the person's dialog state (one small transaction, a commit on PostgreSQL).
        for mode, order in (
            ("browsing", [n for n in QUERIES for _ in range(turns)]),
            ("paging", [n for _ in range(turns) for n in QUERIES]),
        ):
            samples = await measure(order)
            part: dict[str, Any] = {name: _percentiles(values) for name, values in samples.items()}
            part["all"] = _percentiles([v for values in samples.values() for v in values])
            part["turns"] = len(order)
            part["p99_under_goal"] = part["all"]["p99"] < GOAL_MS
            result[mode] = part
        return result
    finally:
        await services.db.dispose()


async def _main(turns: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "requests",
        "machine": machine(),
        "open_requests": OPEN,
        "communities": COMMUNITIES,
        "goal_p99_ms": GOAL_MS,
    }
    with tempfile.TemporaryDirectory() as directory:
        result["sqlite"] = await _run(sqlite_url(directory), turns)
    url, note = await postgres_url("lovebank_bench_requests")
    result["postgresql"] = await _run(url, turns) if url else {"skipped": note}
    result["machine_after"] = machine()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench requests", description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=300, help="rounds of the four /requests queries")
    args = parser.parse_args(argv)
    emit(asyncio.run(_main(args.turns)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
