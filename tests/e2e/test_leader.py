"""End to end: with two `lovebank serve` processes on PostgreSQL exactly one runs the scheduled
jobs. Kill the leader with -9: the other takes over within a minute and runs the jobs; the
morning reminders (and the star list, forced from the command line on top) still go out once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.processes import PG_URL, ROOT, fresh_postgres, seed, start

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason="needs LOVEBANK_TEST_DATABASE_URL")]

GROUP = "-100900"


def morning_zone() -> str:
    """A time zone where it is now between 09:00 and 21:00, so today's 08:30 reminders are due."""
    hour = datetime.now(UTC).hour
    offset = (12 - hour + 12) % 24 - 12  # local hour near 12
    return f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"  # Etc/GMT-8 is UTC+8


def test_the_leader_dies_and_the_other_process_runs_the_jobs_once(bot_api: Any, tmp_path: Path) -> None:
    api, port = bot_api
    url = fresh_postgres()
    zone = morning_zone()
    community = seed(url, workers=2, volunteers=2)
    asyncio.run(_set_group(url, community.community_id, zone))
    a = start("serve", tmp_path, "a", port, url, timezone=zone)
    b = None
    try:
        a.wait_log("this process is the leader")
        a.wait_log("job reminders: reminders: 1 communities")  # today's, caught up at once
        b = start("serve", tmp_path, "b", port, url, timezone=zone)
        assert b.port
        time.sleep(2)
        assert "this process is the leader" not in b.log()  # one leader at a time
        a.kill9()
        killed = time.monotonic()
        b.wait_log("this process is the leader", timeout=60)
        took_over = time.monotonic() - killed
        b.wait_log("job alert-escalation: ", timeout=60 - took_over)
        b.wait_log("job reminders: reminders: 0 communities", timeout=10)  # the old leader's claim holds
        print(f"\nthe other process took over {took_over:.1f}s after the leader was killed")

        # The star list forced twice from the command line, as cron on two machines would.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
            "LOVEBANK_DATABASE_URL": url,
            "LOVEBANK_TIMEZONE": zone,
            "PYTHONPATH": str(ROOT),
        }
        for _ in range(2):
            subprocess.run(
                [sys.executable, "-m", "bot", "jobs", "run", "star-list", "--period", "week"],
                cwd=tmp_path,
                env=env,
                check=True,
                capture_output=True,
            )

        def posted() -> list[Any]:  # the poster, with the list as its caption
            return [c for c in api.delivered("sendPhoto") + api.delivered() if c.chat_id == GROUP]

        deadline = time.monotonic() + 20
        while not posted():
            assert time.monotonic() < deadline, "the star list never reached the group"
            time.sleep(0.2)
        time.sleep(2)
        assert [c.method for c in posted()] == ["sendPhoto"]
        for worker in community.workers:
            mornings = [c for c in api.delivered() if c.chat_id == str(worker) and "早上好" in c.text]
            assert len(mornings) == 1, f"worker {worker} got {len(mornings)} morning reminders"
        assert b.stop() == 0
    finally:
        for p in (a, b):
            if p is not None and p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()


async def _set_group(url: str, community_id: int, zone: str) -> None:
    from sqlalchemy import select, update

    from bot.kernel.db import Database
    from bot.kernel.settings import Settings
    from bot.services import Services
    from models import Community, Identity

    services = Services(Database(url), Settings(_env_file=None, database_url=url, timezone=zone))  # type: ignore[call-arg]
    try:
        with services.db.uow() as session:
            session.execute(update(Community).where(Community.id == community_id).values(timezone=zone))
            worker = session.scalar(select(Identity.person_id).where(Identity.external_id == "101"))
            session.commit()
        await services.run(services.stars.set_group, worker, community_id, "telegram", GROUP)
        # Hours last week, so last week's star list has someone on it.
        with services.db.read() as session:
            volunteer = session.scalar(select(Identity.person_id).where(Identity.external_id == "1001"))
        category = (await services.run(services.hours.categories, community_id))[0].id
        today = datetime.now(ZoneInfo(zone)).date()
        log = await services.run(
            services.hours.submit,
            volunteer,
            community_id,
            category_id=category,
            service_date=today - timedelta(days=7),
            minutes=60,
        )
        await services.run(services.hours.approve, worker, log.id)
    finally:
        await services.db.dispose()
