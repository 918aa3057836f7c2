"""End to end: a real `lovebank serve` delivers notifications to a Bot API stand-in that fails the
way Telegram does: 429 with retry_after (tried again after it, not counted as a failure), 403 (the
person is marked unreachable and nothing more is tried until they write again), 500 and timeouts
(Telegram down: the channel pauses and probes, 2 s then 4 s, without spending the message's
tries), a request Telegram will never take (parked, listed by `lovebank parked`). Nothing is lost,
and the group and overall flood limits hold."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.kernel.migrate import upgrade
from models import Notification
from tests.e2e.processes import ROOT, message, post, query, seed, start
from tests.e2e.standin import BROKEN, TOO_MANY, Fault, timeout

pytestmark = pytest.mark.slow

GROUP = -100500
LOG = {"date": "11月20日", "category": "探访", "hours": "1", "points": 10, "available": 10}


def queue(url: str, rows: list[dict[str, Any]]) -> None:
    """What the services would have written: notifications, committed."""
    from datetime import UTC, datetime

    from bot.kernel.db import Database

    async def write() -> None:
        db = Database(url)
        try:
            with db.uow() as session:
                for row in rows:
                    session.add(Notification(created_at=datetime.now(UTC), **row))
                session.commit()
        finally:
            await db.dispose()

    asyncio.run(write())


def person_ids(url: str) -> dict[int, int]:
    """Telegram user id → person id."""
    return {int(ext): pid for ext, pid in query(url, "SELECT external_id, person_id FROM identities")}


def approved(person: int, log: int) -> dict[str, Any]:
    return {"person_id": person, "key": "notify.log_approved", "params": LOG | {"log": log}}


def test_outbox_retries_marks_unreachable_parks_and_holds_the_limits(bot_api: Any, tmp_path: Path) -> None:
    api, port = bot_api
    url = f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}"
    asyncio.run(upgrade(url))
    community = seed(url, workers=1, volunteers=8)
    people = person_ids(url)
    v = community.volunteers
    api.faults[str(v[0])] = [TOO_MANY]
    api.blocked.add(str(v[1]))
    api.faults[str(v[2])] = [BROKEN, BROKEN]
    api.faults[str(v[3])] = [timeout(6)]  # longer than the bot's 5-second read timeout
    api.faults[str(v[4])] = [Fault(400, "Bad Request: message text is empty")]
    process = start("serve", tmp_path, "serve", port, url)
    try:
        assert process.port
        since = time.monotonic()
        queue(
            url,
            [approved(people[uid], 100 + i) for i, uid in enumerate(v[:5])]
            + [
                {"chat": f"telegram:{GROUP}", "key": "notify.log_approved", "params": LOG | {"log": 200 + n}}
                for n in range(23)
            ]
            + [approved(people[v[5 + n % 3]], 300 + n) for n in range(90)],
        )

        def delivered(log: int) -> list[Any]:
            return [c for c in api.delivered() if f"H{log}（" in c.text]

        deadline = time.monotonic() + 60
        while not all(delivered(n) for n in (100, 102, 103, *range(200, 223), *range(300, 390))):
            assert time.monotonic() < deadline, "not everything was delivered"
            time.sleep(0.2)

        tries = {uid: [c for c in api.calls if c.method == "sendMessage" and c.chat_id == str(uid)] for uid in v[:5]}
        # 429: once more after retry_after (1 s), and not counted as a failure.
        assert [c.status for c in tries[v[0]]] == [429, 200]
        assert tries[v[0]][1].at - tries[v[0]][0].at >= 0.95
        # 500 twice: the channel paused, probed after 2 s then 4 s (this message, the oldest due), then delivered.
        assert [c.status for c in tries[v[2]]] == [500, 500, 200]
        assert tries[v[2]][2].at - tries[v[2]][0].at >= 5.5
        # A timeout: tried again.
        assert [c.status for c in tries[v[3]]] == [504, 200]
        # 403: one try, the person marked unreachable, the notification waits.
        assert [c.status for c in tries[v[1]]] == [403]
        assert query(url, "SELECT unreachable_at IS NOT NULL FROM identities WHERE external_id = :e", e=str(v[1])) == [
            (1,)
        ]
        # A request Telegram will never take: parked at once, listed for the operator.
        assert [c.status for c in tries[v[4]]] == [400]
        listed = subprocess.run(
            [sys.executable, "-m", "bot", "parked"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"LOVEBANK_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert "notify.log_approved" in listed.stdout and "message text is empty" in listed.stdout.lower(), listed

        # The flood limits (python-telegram-bot's AIORateLimiter): a group gets a burst of 20,
        # then one message every 3 seconds; overall a burst of 30, then 30 a second.
        group = sorted(c.at for c in api.delivered() if c.chat_id == str(GROUP))
        assert len(group) == 23
        assert group[22] - group[0] >= 3 * 3 - 0.5
        # Times are taken where the stand-in receives them, so a loaded machine bunches a few:
        # a window is allowed a quarter second of that, the whole run half a second.
        every = sorted(c.at for c in api.delivered())
        for i in range(len(every) - 61):
            assert every[i + 60] - every[i] >= 1.0 - 0.25, "more than 60 messages in a second (30 + a burst of 30)"
        assert len(every) > 90 and every[-1] - every[0] >= (len(every) - 30) / 30 - 0.5

        # The blocked person unblocks and writes: reachable again, the waiting notice goes out.
        api.blocked.discard(str(v[1]))
        assert post(process.port, message(77, v[1], "/balance")) == 200
        deadline = time.monotonic() + 60  # a wait for the condition: generous for a loaded machine
        while not delivered(101):
            assert time.monotonic() < deadline, "the waiting notice was not delivered after the person came back"
            time.sleep(0.2)
        assert query(url, "SELECT count(*) FROM notifications WHERE delivered_at IS NULL AND parked_at IS NULL") == [
            (0,)
        ]
        print(f"\nall delivered, retried or parked in {time.monotonic() - since:.1f}s")
    finally:
        code = process.stop()
    assert code == 0
