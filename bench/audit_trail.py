"""The `/audit` part of `python -m bench records` (bench/records.py runs it).

audit_timing: `/audit` pages for a person with 10,000 audit entries against a person with 10,
in a community whose log holds other people's entries too (50,000 about 300 others; --scale).
Both people's entries are spread over the whole id range. The rows are loaded with bulk INSERTs
(setup, not measured). Timed through the service a handler calls (services.trail.of_person,
one hand-off to a database thread each): the first page of each, and for the heavy person a
page half-way down (page 500, by its keyset cursor). Every page is checked against the data:
the ten entries expected, newest first, the actor, the amount, and the next page's cursor.
Median and p99 per call; ratio_10000_over_10 = heavy p99 / light p99 (target <= 1.25), taken
over the first pages and over the heavy person's deep page against the light person's page.

SQLite on a temporary file; PostgreSQL on LOVEBANK_BENCH_DATABASE_URL or lovebank_bench_records
at 127.0.0.1:5432 (its schema wiped first), skipped with a note when no server answers.
The last line printed is one JSON object; a wrong result exits non-zero.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from bench.common import check
from bot.audit.trail import PAGE, TrailPage
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import AuditEntry, Person

PG_NAME = "lovebank_bench_records"
HEAVY, LIGHT, OTHERS, OTHER_ENTRIES = 10_000, 10, 300, 50_000
DEEP = 500  # the heavy person's page timed beside the first


async def _person(services: Services, handle: str, name: str) -> int:
    person, _ = await services.run(services.people.identify, "console", handle, display_name=name, handle=handle)
    return int(person.id)


async def _audit_setup(services: Services, scale: float, seed: int) -> dict[str, Any]:
    admin = await _person(services, "admin", "管理员")
    await services.db.run(services.db.transaction, lambda s: setattr(s.get(Person, admin), "is_admin", True))
    community = await services.run(services.people.create_community, "审计社区", actor_id=admin)
    worker = await _person(services, "worker", "张社工")
    await services.run(services.people.appoint_worker, admin, community.id, worker)
    code = await services.run(services.people.create_invite, worker, community.id)
    people = {}
    for name in ("heavy", "light"):
        people[name] = await _person(services, name, name)
        await services.run(services.people.join, people[name], code)
    others = [await _person(services, f"o{i}", f"居民{i}") for i in range(OTHERS)]
    # Who each entry concerns, in id order: the heavy and light people's spread over the range.
    owners = [people["heavy"]] * HEAVY + [people["light"]] * LIGHT + [None] * int(OTHER_ENTRIES * scale)
    rng = random.Random(seed)
    rng.shuffle(owners)
    start = services.clock.now() - timedelta(days=30)
    rows, expected = [], {"heavy": [], "light": []}  # type: ignore[var-annotated]
    first_id = 1_000
    for n, owner in enumerate(owners):
        entry_id = first_id + n
        concerned = owner if owner is not None else rng.choice(others)
        rows.append(
            {
                "id": entry_id,
                "community_id": community.id,
                "actor_id": worker,
                "person_id": concerned,
                "action": "points.adjust",
                "subject_type": "person",
                "subject_id": concerned,
                "details": {"amount": n + 1},
                "created_at": start + timedelta(seconds=n),
            }
        )
        for name, pid in people.items():
            if owner == pid:
                expected[name].append(entry_id)

    def load(session: Session) -> None:
        for at in range(0, len(rows), 5_000):
            session.execute(insert(AuditEntry), rows[at : at + 5_000])

    started = time.perf_counter()
    await services.db.run(services.db.transaction, load)
    # Statistics, as autovacuum's analyze (PostgreSQL) keeps them after a bulk load.
    await services.db.run(services.db.transaction, lambda s: s.execute(text("ANALYZE audit_log")))
    return {
        "community": community.id,
        "worker": worker,
        "people": people,
        "admin": admin,
        "expected": {k: sorted(v, reverse=True) for k, v in expected.items()},
        "entries": len(rows),
        "load_s": round(time.perf_counter() - started, 2),
        "first_id": first_id,
    }


def _check_page(page: TrailPage, want: list[int], first_id: int, more: bool, who: str) -> None:
    got = [line.entry_id for line in page.lines]
    check(got == want, f"{who}: entries {got[:3]}… want {want[:3]}…")
    check(
        all(
            line.actor == "张社工"
            and line.action == "points.adjust"
            and line.details.get("amount") == line.entry_id - first_id + 1
            for line in page.lines
        ),
        f"{who}: an entry shows the wrong actor, action or amount",
    )
    check(page.before == (want[-1] if more else None), f"{who}: next-page cursor {page.before}")


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def audit_timing(url: str, *, calls: int = 500, scale: float = 1.0, seed: int = 7) -> dict[str, Any]:
    """/audit's pages on one database (migrated here): the figures, checked; see the module's doc."""
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    services = Services(Database(url), settings, Clock())
    try:
        data = await _audit_setup(services, scale, seed)
        trail, cid, worker, first_id = services.trail, data["community"], data["worker"], data["first_id"]
        heavy_ids, light_ids = data["expected"]["heavy"], data["expected"]["light"]
        deep_cursor = heavy_ids[DEEP * PAGE - 1]

        async def heavy_first() -> None:
            page = await services.run(trail.of_person, worker, cid, data["people"]["heavy"])
            _check_page(page, heavy_ids[:PAGE], first_id, True, "heavy first page")

        async def heavy_deep() -> None:
            page = await services.run(trail.of_person, worker, cid, data["people"]["heavy"], deep_cursor)
            _check_page(page, heavy_ids[DEEP * PAGE : (DEEP + 1) * PAGE], first_id, True, "heavy deep page")

        async def light_first() -> None:
            page = await services.run(trail.of_person, worker, cid, data["people"]["light"])
            _check_page(page, light_ids[:PAGE], first_id, False, "light first page")

        ops = {"heavy_first": heavy_first, "heavy_deep": heavy_deep, "light_first": light_first}
        for op in ops.values():  # warm up: statement caches, page cache
            for _ in range(20):
                await op()
        times: dict[str, list[float]] = {name: [] for name in ops}
        names = list(ops)
        for i in range(calls):
            for name in names[i % 3 :] + names[: i % 3]:  # rotate who goes first
                started = time.perf_counter()
                await ops[name]()
                times[name].append(time.perf_counter() - started)
        stats = {name: _stats(t) for name, t in times.items()}
        light = stats["light_first"]["p99_ms"]
        return {
            "entries_loaded": data["entries"],
            "load_s": data["load_s"],
            "entries": {"heavy": len(heavy_ids), "light": len(light_ids)},
            **stats,
            "ratio_first_page": round(stats["heavy_first"]["p99_ms"] / light, 3),
            "ratio_deep_page": round(stats["heavy_deep"]["p99_ms"] / light, 3),
            "ratio_10000_over_10": round(max(stats["heavy_first"]["p99_ms"], stats["heavy_deep"]["p99_ms"]) / light, 3),
        }
    finally:
        await services.db.dispose()
