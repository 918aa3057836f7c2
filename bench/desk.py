"""`python -m bench desk`: the worker's desk (工作台) on a district, on SQLite and PostgreSQL.

The data is bench updates' district (one community: 10,000 volunteers, 1,000,000 transfers,
200,000 service logs, the worker with logs waiting; loaded by bench.updates.prepare and
load_district) plus 50,000 elders on its roster with two visits each in the last 60 days (bulk
INSERTs); `--scale` shrinks all of it. The worker logs in as a person does (a login link from the
desk service, the button POSTed) and walks the pages through the web app in process (httpx's ASGI
transport: the routes, the session and role checks, the services, the templates): People (the
first page, a later page, a name search, a phone-tail search, a person's card), Elders (the
first page with the month's calendar, a later page), The month, Waiting. Every response must be
200 and carry what the page is for, or the run stops (exit 1). Reported: p50/p99 ms per page;
the target is 200 ms at p99 for every page. PostgreSQL: LOVEBANK_BENCH_DATABASE_URL, or a
database lovebank_bench_desk on 127.0.0.1:5432 (wiped); skipped with a note when no server
answers. The last line printed is JSON."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, func, select, text

from bench.common import check, machine, postgres_url
from bench.updates import DISTRICT, FIRST_MEASURED, WORKER, load_district, prepare
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.desk import setup
from handlers.web import Web
from models import Elder, Identity
from models.base import UTCDateTime

PUBLIC = "https://desk.bench.example"
ELDERS = 50_000
VISITS_PER_ELDER = 2
TARGET_P99_MS = 200.0


def load_elders(services: Services, community: int, worker: int, elders: int) -> None:
    """The roster: `elders` elders of the community (a third living alone, every tenth at high
    risk), each with VISITS_PER_ELDER visits in the last 60 days by one of the measured volunteers."""
    db = services.db
    now = datetime.now(UTC)
    if db.sqlite:
        numbers = "WITH RECURSIVE nums(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM nums WHERE i + 1 < :n) "
        source, when = "nums", "datetime(:at, '-' || ((e.id * 7 + v.i * 29) % 60) || ' days')"
    else:
        numbers = ""
        source = "generate_series(0, :n - 1) AS nums(i)"
        when = "(CAST(:at AS timestamp) - make_interval(days => (e.id * 7 + v.i * 29) % 60))"
    with db.engine.begin() as conn:

        def run(sql: str, **params: Any) -> None:
            types = [bindparam("at", type_=UTCDateTime())] if "at" in params else []
            conn.execute(text(sql).bindparams(*types), params)

        run(
            "INSERT INTO elders (community_id, name, birth_year, import_key, address, lives_alone, risk, "
            "worker_id, active, flagged, not_home_streak, added_at) "
            f"{numbers}SELECT :c, '老人' || i, 1930 + i % 30, '老人' || i || '|' || (1930 + i % 30), "
            "'幸福里' || (i % 200) || '栋', i % 3 = 0, CASE WHEN i % 10 = 0 THEN 'high' ELSE 'normal' END, "
            f":w, true, false, 0, :at FROM {source}",
            n=elders,
            c=community,
            w=worker,
            at=now,
        )
        first_volunteer = conn.scalar(
            text("SELECT person_id FROM identities WHERE channel = 'telegram' AND external_id = :x"),
            {"x": str(FIRST_MEASURED)},
        )
        visits = " UNION ALL ".join(f"SELECT {i} AS i" for i in range(VISITS_PER_ELDER))
        run(
            "INSERT INTO visit_records (community_id, elder_id, person_id, kind, at, outcome, created_at) "
            f"SELECT :c, e.id, :p, 'visit', {when}, 'well', :at "
            f"FROM elders e CROSS JOIN ({visits}) v WHERE e.community_id = :c",
            c=community,
            p=first_volunteer,
            at=now,
        )
        run(
            "UPDATE elders SET last_visit_at = (SELECT max(r.at) FROM visit_records r WHERE r.elder_id = elders.id) "
            "WHERE community_id = :c",
            c=community,
        )
    analyze(services)


def analyze(services: Services) -> None:
    """The planner's statistics of everything loaded, committed: on PostgreSQL an ANALYZE in a
    transaction that is rolled back leaves no statistics (the People page then read every
    approved log of the community to sum fifty people's hours: 550 ms instead of 20)."""
    with services.db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def pages(person: int, last_people: int, last_elders: int) -> dict[str, tuple[str, str]]:
    """`last_people`: the last page of people; `last_elders`: an elder id near the roster's end."""
    # name → (path, a text the page must show)
    return {
        "people": ("/desk/people", "志愿者"),
        "people_later_page": (f"/desk/people?page={last_people}", "/desk/people/"),
        "people_search_name": ("/desk/people?q=志愿者12", "志愿者12"),
        "people_search_phone": ("/desk/people?q=00000042", "志愿者42"),
        "person": (f"/desk/people/{person}", "H"),
        "elders": ("/desk/elders", "老人"),
        "elders_later_page": (f"/desk/elders?after={last_elders}", "老人"),
        "month": ("/desk/month", "chart.png"),
        "month_chart": ("/desk/month/chart.png", "PNG"),
        "waiting": ("/desk/waiting", "H"),
    }


async def walk(url: str, scale: float, samples: int) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url, public_url=PUBLIC)  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    size = {k: int(v * scale) for k, v in DISTRICT.items()}
    elders = int(ELDERS * scale)
    try:
        started = time.perf_counter()
        community, category = await prepare(services)
        today = (await services.run(services.people.clock_of, community)).today()
        await services.db.run(load_district, services, community, category, size, today)

        def who() -> tuple[int, int, int, int]:
            with services.db.read() as session:
                worker = session.execute(
                    select(Identity.person_id, Identity.id).where(
                        Identity.channel == "telegram", Identity.external_id == str(WORKER)
                    )
                ).one()
                volunteer = session.scalar(
                    select(Identity.person_id).where(
                        Identity.channel == "telegram", Identity.external_id == str(FIRST_MEASURED + 12)
                    )
                )
                last_elder = session.scalar(select(func.max(Elder.id)))
            return worker[0], worker[1], int(volunteer or 0), int(last_elder or 0)

        worker, identity, volunteer, _ = await services.db.run(who)
        await services.db.run(load_elders, services, community, worker, elders)
        last_elder = (await services.db.run(who))[3]
        loaded = time.perf_counter() - started
        web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
        setup(web)
        transport = httpx.ASGITransport(app=web.app())
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            link = await services.run(services.desk.new_link, worker, identity, community, "desk")
            opened = await client.post(f"/desk/login/{link.secret}")
            check(opened.status_code == 303, f"login: {opened.status_code}")
            members = size["volunteers"] + 1
            walked = pages(volunteer, max(1, members // 50), max(0, last_elder - 60))
            out: dict[str, Any] = {}
            for name, (path, must) in walked.items():
                timings = []
                for n in range(samples + 2):  # two to warm up
                    gc.collect()
                    begun = time.perf_counter()
                    response = await client.get(path)
                    spent = (time.perf_counter() - begun) * 1000
                    check(
                        response.status_code == 200 and must in response.text,
                        f"{name} ({path}): {response.status_code} {response.text[:300]!r}",
                    )
                    if n >= 2:
                        timings.append(spent)
                timings.sort()
                out[name] = {
                    "p50_ms": round(timings[len(timings) // 2], 1),
                    "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
                    "bytes": len(response.content),
                }
                print(f"desk bench: {name}: {json.dumps(out[name])}", file=sys.stderr, flush=True)
        return {
            "district": {**size, "elders": elders, "visits": elders * VISITS_PER_ELDER, "load_s": round(loaded, 1)},
            "pages": out,
            "missed": sorted(k for k, v in out.items() if v["p99_ms"] > TARGET_P99_MS),
        }
    finally:
        await services.db.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "desk", "scale": args.scale, "samples": args.samples, "target_p99_ms": 200}
    out["machine"] = machine()
    for backend in args.backends.split(","):
        print(f"desk bench: {backend}…", file=sys.stderr, flush=True)
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                out["sqlite"] = await walk(f"sqlite:///{Path(folder) / 'desk.db'}", args.scale, args.samples)
        else:
            url, why = await postgres_url("lovebank_bench_desk")
            out["postgresql"] = {"skipped": why} if url is None else await walk(url, args.scale, args.samples)
    out["machine_after"] = machine()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench desk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the district (1: 10,000 volunteers…)")
    parser.add_argument("--samples", type=int, default=50, help="requests timed per page")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    out = asyncio.run(run(args))
    print(json.dumps(out, ensure_ascii=False))
    measured = [out[b] for b in ("sqlite", "postgresql") if b in out and "skipped" not in out[b]]
    return 0 if measured and not any(m["missed"] for m in measured) else 1
