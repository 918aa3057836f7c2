"""End to end: the real `lovebank serve` with WeChat, and Telegram configured but unreachable. It
starts anyway and serves WeChat (/readyz names Telegram). WeChat's API then goes down for a
stretch (503 on every call) while notifications wait: the channel pauses behind its breaker (a
probe now and then, /readyz says so), passive replies still work (and carry what waited for that
person), and when WeChat answers again every notification is delivered exactly once (or was in
that reply) and nothing is parked."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import get, start
from tests.wechat.standin import AES_KEY, APP_ID, APP_SECRET, TOKEN, APIServer, WeChatServer

pytestmark = pytest.mark.slow

PEOPLE = [f"oOutage{n}" for n in range(5)]
PER_PERSON = 4


def dead_port() -> int:
    """A port nothing listens on: Telegram unreachable (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queue(url: str, people: dict[str, int]) -> None:
    """What the services would have written for these people: notifications, committed."""
    from datetime import UTC, datetime

    from bot.kernel.db import Database
    from models import Notification

    async def write() -> None:
        db = Database(url)
        try:
            with db.uow() as session:
                for n, person_id in enumerate(people.values()):
                    for k in range(PER_PERSON):
                        session.add(
                            Notification(
                                person_id=person_id,
                                key="notify.log_approved",
                                params={
                                    "log": 100 * (n + 1) + k,
                                    "points": 10,
                                    "available": 10,
                                    "date": "2026-11-20",
                                    "category": "探访",
                                    "hours": "1",
                                },
                                created_at=datetime.now(UTC),
                            )
                        )
                session.commit()
        finally:
            await db.dispose()

    asyncio.run(write())


def ready(port: int) -> tuple[int, dict[str, Any]]:
    status, body = get(port, "/readyz")
    return status, json.loads(body)


def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_wechat_outage_heals_with_telegram_unreachable(tmp_path: Path) -> None:
    db_file = tmp_path / "lovebank.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    with APIServer() as wechat_api:
        api = wechat_api.api
        process = start(
            "serve",
            tmp_path,
            "serve",
            dead_port(),
            url,
            wechat_token=TOKEN,
            wechat_aes_key=AES_KEY,
            wechat_app_id=APP_ID,
            wechat_app_secret=APP_SECRET,
            wechat_api_url=wechat_api.url,
            outage_probe_seconds="0.5",
            outage_probe_max_seconds="2",
            health_check_seconds="0.5",
        )
        try:
            port = process.port  # listening although Telegram cannot be reached
            status, report = ready(port)
            assert status == 503 and report["database"] == "ok" and report["wechat"] == "ok", report
            assert report["telegram"].startswith("not started: cannot reach the Bot API"), report
            wechat = WeChatServer(f"http://127.0.0.1:{port}", api)
            for openid in PEOPLE:
                answer = wechat.post(wechat.text(openid, "/help")[1])
                assert answer.status == 200 and "/help" in answer.message(wechat.crypto)["Content"]
            with sqlite3.connect(db_file) as db:
                people = dict(db.execute("SELECT external_id, person_id FROM identities WHERE channel = 'wechat'"))

            api.down = 503  # WeChat's API is down
            queue(url, people)
            process.wait_log(r"wechat: platform down \(.*HTTP 503\): sending paused")
            until(lambda: ready(port)[1]["wechat"].startswith("paused by an outage"), "/readyz did not show the outage")
            calls = api.refused_while_down
            time.sleep(5)  # a stretch of the outage: probes 0.5, 1, 2, 2 s apart
            probes = api.refused_while_down - calls
            assert 1 <= probes <= 8, f"{probes} calls in 5 s of an outage: not paused"
            # Passive replies still work while the API is down, and carry what waited for the person.
            answer = wechat.post(wechat.text(PEOPLE[0], "/help")[1])
            folded = answer.message(wechat.crypto)["Content"]
            assert answer.status == 200 and "/help" in folded and f"您有 {PER_PERSON} 条新通知" in folded
            with sqlite3.connect(db_file) as db:
                assert db.execute("SELECT count(*) FROM notifications WHERE parked_at IS NOT NULL").fetchone() == (0,)
                assert db.execute("SELECT max(attempts) FROM notifications").fetchone() == (0,)

            api.down = None  # back
            total = len(PEOPLE) * PER_PERSON

            def delivered() -> list[str]:
                with api.lock:
                    return [s.content for s in api.sent if "已通过" in s.content]

            # A person's waiting notifications go folded into one message (WeChat's budget).
            until(
                lambda: sum(t.count("已通过") for t in delivered()) >= total - PER_PERSON,
                "not everything was delivered after the outage",
            )
            process.wait_log(r"wechat: platform answers again after \d+ s: sending resumed")
            time.sleep(1.0)  # nothing more comes
            texts = [*delivered(), folded]
            assert sum(t.count("已通过") for t in texts) == total
            for n in range(len(PEOPLE)):
                for k in range(PER_PERSON):
                    assert sum(f"H{100 * (n + 1) + k}（" in t for t in texts) == 1
            with sqlite3.connect(db_file) as db:
                assert db.execute("SELECT count(*) FROM notifications WHERE delivered_at IS NULL").fetchone() == (0,)
                assert db.execute("SELECT count(*) FROM notifications WHERE parked_at IS NOT NULL").fetchone() == (0,)
            status, report = until(lambda: (r := ready(port))[1]["wechat"] == "ok" and r, "/readyz: WeChat not ok")
            assert status == 503 and report["telegram"].startswith("not started")  # Telegram still unreachable
        finally:
            code = process.stop()
        log = process.log()
        assert code == 0, log
        assert "Traceback" not in log, log
        assert not re.search(r"\bparked: ", log), log  # no park warning (the prune job's summary may say "0 parked")
        assert re.search(r"WARNING bot\.runtime\.breaker \[[^\]]*\]: wechat: platform down", log), log
        assert re.search(r"WARNING handlers\.telegram\.webhook \[[^\]]*\]: telegram: not started", log), log
