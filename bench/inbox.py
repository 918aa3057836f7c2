"""`python -m bench inbox`: one member's flood never slows anyone else.

For each backlog (3, 3,000 and 30,000 updates queued from one member) it measures:
- `claim_ms`: claiming another person's update (the inbox worker's query) while the backlog waits;
  the target is the same cost for every backlog (only each person's head is read);
- `balance_ms`: another person's `/balance` through the production pipeline (stored in the
  inbox, claimed by the running inbox worker, the dialog turn, the reply sent to a recording Bot
  API), from the store to the reply; the target is under 200 ms with 3,000 queued.

The backlog is written straight into the inbox table as `store` leaves a flood arriving at once
(the first entry the member's head, the rest behind it, paced), the rest goes through the services.
Every timed claim must
return the other person's entry and every `/balance` must be answered with the balance.
SQLite in a temporary file, and PostgreSQL from LOVEBANK_BENCH_DATABASE_URL or database
lovebank_bench_inbox on 127.0.0.1:5432. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from typing import Any

from sqlalchemy import delete, insert, update

from bench.common import check, emit, machine, median, postgres_url, sqlite_url
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.runtime.pipeline import InboxWorker
from bot.services import Services
from models import InboxEntry

BACKLOGS = (3, 3000, 30000)
TARGET_BALANCE_MS = 200
FLOODER, OTHER = 7001, 7002


def update_json(n: int, user: int, text: str) -> dict[str, Any]:
    person = {"id": user, "is_bot": False, "first_name": f"u{user}", "language_code": "zh-hans"}
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": user, "type": "private"},
            "from": person,
        },
    }


async def seed(services: Services) -> None:
    community = await services.run(services.people.create_community, "基准社区")
    worker, _ = await services.run(services.people.identify, "console", "bench-worker", display_name="社工")
    await services.run(services.people.appoint_worker, None, community.id, worker.id)
    code = await services.run(services.people.create_invite, worker.id, community.id)
    for user in (FLOODER, OTHER):
        person, _ = await services.run(services.people.identify, "telegram", str(user), display_name=f"u{user}")
        await services.run(services.people.join, person.id, code)
        await services.run(
            services.people.register_volunteer, person.id, community.id, f"志愿者{user}", f"1390000{user}"
        )


def queue(services: Services, count: int, first_id: int) -> None:
    """`count` updates from the flooder, as the inbox holds them: one head, the rest behind it."""
    now = services.clock.now()
    rows = [
        {
            "channel": "telegram",
            "platform_id": str(first_id + n),
            "sender": str(FLOODER),
            "status": "new",
            "payload": update_json(first_id + n, FLOODER, f"第{n}条"),
            "attempts": 0,
            "reply_sent": 0,
            "received_at": now,
            "head_seq": None,
        }
        for n in range(count)
    ]
    rows[0]["head_seq"] = 1
    before = None
    for row in rows:  # paced as `store` paces a flood arriving at once
        due, row["pace_at"], _ = services.inbox.pace.next(now, before)
        row["not_before"] = due if due > now else None
        before = type("Last", (), {"received_at": now, "pace_at": row["pace_at"]})

    def work(session: Any) -> None:
        session.execute(delete(InboxEntry))
        for start in range(0, len(rows), 1000):
            session.execute(insert(InboxEntry), rows[start : start + 1000])

    services.db.transaction(work)
    if not services.db.sqlite:  # what autovacuum does after such a load: the planner's statistics
        with services.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE inbox")


async def claim_ms(services: Services, rounds: int, first_id: int) -> list[float]:
    """Another person's update stored, then claimed (timed) and finished, `rounds` times."""
    times = []
    for n in range(rounds):
        payload = update_json(first_id + n, OTHER, "/help")
        stored = await services.run(services.inbox.store, "telegram", str(first_id + n), str(OTHER), payload)
        # The flooder's head is busy (leased) as it would be while its turn runs.
        await services.db.run(
            services.db.transaction,
            lambda s: s.execute(
                update(InboxEntry)
                .where(InboxEntry.sender == str(FLOODER), InboxEntry.head_seq.is_not(None))
                .values(leased_by="busy", lease_until=services.clock.now().replace(year=2100))
            ),
        )
        started = time.perf_counter()
        claimed = await services.run(services.inbox.claim, "bench", 1, 30, ("telegram",))
        times.append(time.perf_counter() - started)
        check([e.id for e in claimed] == [stored.id], f"the claim returned {claimed!r}, not the other person's update")
        await services.db.run(services.db.transaction, lambda s, e=claimed[0]: services.inbox.settle(s, e, None))
    return times


async def balance_ms(services: Services, rounds: int, first_id: int) -> list[float]:
    from telegram.ext import AIORateLimiter, ExtBot

    from bench.botapi import RecordingRequest
    from handlers.telegram.inbound import TelegramChannel

    api = RecordingRequest()
    bot = ExtBot(
        "123:abc",
        request=api,
        get_updates_request=RecordingRequest(),
        rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0),
    )
    await bot.initialize()
    # Free the flooder's head: the worker takes it and the paced rest as they come.
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(
            update(InboxEntry).where(InboxEntry.sender == str(FLOODER)).values(leased_by=None, lease_until=None)
        ),
    )
    worker = InboxWorker(services, {"telegram": TelegramChannel(services, bot)}, worker="bench")
    running = asyncio.create_task(worker.run())
    times = []
    try:
        for n in range(rounds):
            before = len(api.calls)
            payload = update_json(first_id + n, OTHER, "/balance")
            started = time.perf_counter()
            await services.run(services.inbox.store, "telegram", str(first_id + n), str(OTHER), payload)
            worker.wake()
            while not (
                answers := [c for c in api.calls[before:] if c.method == "sendMessage" and c.chat_id == str(OTHER)]
            ):
                check(time.perf_counter() - started < 30, "/balance was not answered within 30 s")
                await asyncio.sleep(0.001)
            times.append(time.perf_counter() - started)
            check("积分" in answers[0].text, f"/balance answered {answers[0].text[:80]!r}")
    finally:
        await worker.stop()
        await running
        await bot.shutdown()
    return times


async def run_on(url: str, rounds: int, backlogs: tuple[int, ...]) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url, telegram_token="123:abc")  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    await seed(services)
    result: dict[str, Any] = {}
    try:
        for backlog in backlogs:
            await services.db.run(queue, services, backlog, 10_000_000)
            claims = await claim_ms(services, rounds, 20_000_000 + backlog * 1000)
            balances = await balance_ms(services, rounds, 30_000_000 + backlog * 1000)
            result[f"queued_{backlog}"] = {
                "claim_ms_median": round(median(claims) * 1000, 2),
                "claim_ms_max": round(max(claims) * 1000, 2),
                "balance_ms_median": round(median(balances) * 1000, 1),
                "balance_ms_max": round(max(balances) * 1000, 1),
            }
        if 3000 in backlogs:
            result["meets_target"] = result["queued_3000"]["balance_ms_max"] < TARGET_BALANCE_MS
    finally:
        await services.db.dispose()
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    backlogs = tuple(args.backlogs)
    result: dict[str, Any] = {"benchmark": "inbox", "target_balance_ms_under": TARGET_BALANCE_MS, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = await run_on(sqlite_url(tmp), args.rounds, backlogs)
    if args.no_postgres:
        result["postgresql"] = "skipped (--no-postgres)"
    else:
        url, name = await postgres_url("lovebank_bench_inbox")
        result["postgresql"] = await run_on(url, args.rounds, backlogs) if url else f"skipped: {name}"
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed claims and /balance per backlog")
    parser.add_argument("--backlogs", type=int, nargs="+", default=list(BACKLOGS))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    emit(asyncio.run(run(args)))
    return 0
