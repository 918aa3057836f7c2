"""`python -m bench records`: records an office signs, timed.

certificate: a worker issues a certificate (志愿服务证明, all time) for a volunteer with 2,000
approved service logs over two years in 13 categories, through the dialog engine as a chat message
(`/certificate NAME all`): the service fixes the figures in its transaction, then the PDF is drawn.
The first call in the process is reported apart (`cold_s`: the font is parsed then, and the base
font cut when its cache file is missing: `font_cache_existed`); then `runs` calls, each issuing a
new certificate: median and max (target: every one within 2 s). Also the parts: the service call
alone and the PDF alone (medians). Every PDF timed is read back (pypdf): one page, its number, and
the hours equal to the sum of the logs loaded; a wrong one exits non-zero.

SQLite on a temporary file; PostgreSQL on LOVEBANK_BENCH_DATABASE_URL or lovebank_bench_records at
127.0.0.1:5432 (wiped first), skipped with a note when no server answers. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, text

from bench.audit_trail import audit_timing
from bench.common import check, emit, machine, postgres_url, refusals, sqlite_url
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.services import Services
from models import Membership, Person, ServiceCategory, ServiceLog

PG_NAME = "lovebank_bench_records"
LOGS = 2_000
TARGET_S = 2.0
VOLUNTEER = "长期志愿者"


async def _volunteer_with_logs(services: Services, logs: int, seed: int) -> dict[str, Any]:
    """A community, its worker, and a volunteer with `logs` approved logs; returns their ids and
    the minutes loaded."""
    rng = random.Random(seed)
    people = services.people
    community = await services.run(people.create_community, "Bench records")
    worker, _ = await services.run(people.identify, "console", "bench-worker", display_name="王社工")
    await services.run(people.appoint_worker, None, community.id, worker.id)
    cid, now = community.id, services.clock.now()

    def load(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        person = Person(display_name=VOLUNTEER, locale="zh-CN", is_admin=False, community_id=cid, created_at=now)
        session.add(person)
        session.flush()
        session.add(Membership(person_id=person.id, community_id=cid, role="volunteer", confirmed=True, joined_at=now))
        categories = list(session.scalars(select(ServiceCategory.id).where(ServiceCategory.community_id == cid)))
        rows, total = [], 0
        for i in range(logs):
            minutes = 15 * rng.randrange(2, 17)
            when = now - timedelta(days=730 * i // logs, hours=rng.randrange(0, 8))
            total += minutes
            rows.append(
                {
                    "community_id": cid,
                    "person_id": person.id,
                    "category_id": rng.choice(categories),
                    "service_date": when.date(),
                    "minutes": minutes,
                    "points_per_hour": 10,
                    "points": minutes // 6,
                    "status": "approved",
                    "submitted_by_id": person.id,
                    "recorded_by_worker": False,
                    "decided_by_id": worker.id,
                    "decided_at": when,
                    "created_at": when,
                }
            )
        session.execute(insert(ServiceLog), rows)
        return person.id, total

    person_id, minutes = await services.db.run(services.db.transaction, load)
    await services.db.run(services.db.transaction, lambda s: s.execute(text("ANALYZE")))
    return {"community": cid, "worker": worker.id, "person": person_id, "minutes": minutes}


def _check_pdf(content: bytes, minutes: int, number: str) -> None:
    from pypdf import PdfReader

    from bot.certificates.service import hours_text

    reader = PdfReader(io.BytesIO(content))
    check(len(reader.pages) == 1, f"the certificate has {len(reader.pages)} pages")
    page = re.sub(r"[\s\x00]+", "", reader.pages[0].extract_text())
    check(
        f"累计志愿服务时长{hours_text(minutes)}小时" in page,
        f"the certificate does not say {hours_text(minutes)} hours",
    )
    check(number in page and VOLUNTEER in page, "the certificate lacks its number or the volunteer's name")


async def certificate_timing(url: str, *, logs: int = LOGS, runs: int = 7, seed: int = 7) -> dict[str, Any]:
    """The certificate figures on one database (see the module's text)."""
    from bot.certificates.pdf import certificate_pdf
    from bot.dialogs.core import Caller, Input
    from bot.dialogs.engine import Dialogs
    from bot.kernel.pdf_fonts import cache_file, full_path

    await upgrade(url)
    settings = Settings(
        _env_file=None,
        database_url=url,  # type: ignore[call-arg]
        public_url="https://bank.example.org",
    )
    services = Services(Database(url), settings, Clock())
    try:
        data = await _volunteer_with_logs(services, logs, seed)
        dialogs = Dialogs(services)
        caller = Caller("console", "bench-worker", display_name="王社工", handle="bench-worker")

        async def issue() -> float:
            started = time.perf_counter()
            turn = await dialogs.handle(caller, Input(text=f"/certificate {VOLUNTEER} all"))
            took = time.perf_counter() - started
            check(not refusals(turn.replies), f"/certificate refused: {refusals(turn.replies)}")
            docs = [r.document for r in turn.replies if r.document is not None]
            check(len(docs) == 1, "no certificate came back")
            number = docs[0].filename.removeprefix("志愿服务证明-").removesuffix(".pdf")
            _check_pdf(docs[0].content, data["minutes"], number)
            return took

        cached = cache_file(full_path()).exists()
        cold = await issue()
        times = [await issue() for _ in range(runs)]
        service, drawing = [], []
        for _ in range(runs):
            started = time.perf_counter()
            facts = await services.run(
                services.certificates.issue_for, data["worker"], data["community"], data["person"], "all"
            )
            service.append(time.perf_counter() - started)
            started = time.perf_counter()
            content = await asyncio.to_thread(certificate_pdf, facts)
            drawing.append(time.perf_counter() - started)
            check(facts.minutes == data["minutes"], f"certified {facts.minutes} minutes of {data['minutes']}")
            _check_pdf(content, data["minutes"], facts.number)
        return {
            "service_logs": logs,
            "hours": round(data["minutes"] / 60, 2),
            "font_cache_existed": cached,
            "cold_s": round(cold, 3),
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
            "service_median_s": round(statistics.median(service), 3),
            "pdf_median_s": round(statistics.median(drawing), 3),
            "within_target": max(times) <= TARGET_S,
        }
    finally:
        await services.db.dispose()


async def _wiped_postgres() -> tuple[str | None, str]:
    url, note = await postgres_url(PG_NAME)
    if url is None:
        return None, note
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()
    return url, note


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "records", "machine": machine(), "target": {"certificate_max_s": TARGET_S}}
    certificate: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        certificate["sqlite"] = await certificate_timing(sqlite_url(directory), logs=args.logs, runs=args.runs)
    if args.sqlite_only:
        certificate["postgresql"] = {"skipped": "--sqlite-only"}
    else:
        url, note = await _wiped_postgres()
        certificate["postgresql"] = (
            await certificate_timing(url, logs=args.logs, runs=args.runs) if url else {"skipped": note}
        )
    result["certificate"] = certificate
    audit: dict[str, Any] = {"calls": args.calls, "scale": args.scale, "target": {"ratio_10000_over_10_max": 1.25}}
    with tempfile.TemporaryDirectory() as directory:
        audit["sqlite"] = await audit_timing(sqlite_url(directory), calls=args.calls, scale=args.scale, seed=args.seed)
    if args.sqlite_only:
        audit["postgresql"] = {"skipped": "--sqlite-only"}
    else:
        url, note = await _wiped_postgres()
        audit["postgresql"] = (
            await audit_timing(url, calls=args.calls, scale=args.scale, seed=args.seed) if url else {"skipped": note}
        )
    audit["ratio_10000_over_10"] = max(
        r["ratio_10000_over_10"] for r in (audit["sqlite"], audit["postgresql"]) if "skipped" not in r
    )
    result["audit"] = audit
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench records", description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=LOGS, help="the volunteer's approved service logs")
    parser.add_argument("--runs", type=int, default=7, help="certificates timed after the first")
    parser.add_argument("--calls", type=int, default=500, help="/audit pages timed of each kind")
    parser.add_argument("--scale", type=float, default=1.0, help="other people's audit entries, in units of 50,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    emit(asyncio.run(_main(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
