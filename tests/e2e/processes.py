"""Real `lovebank serve` / `lovebank run` processes for the end-to-end tests, the webhook POSTs
Telegram would make, and a community seeded through the services on the same database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.e2e.standin import ROOT, TOKEN, WAIT
from tests.pg import PG_URL

SECRET = "e2e-secret_1"
# One category per log of a day: the same service twice in a day asks before it is saved.
CATEGORIES = ("探访", "助餐", "助洁", "助医", "助急", "助乐", "家政", "培训辅导", "咨询", "义务维修")
ADMIN = 1


class Process:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.popen, self.log_path = name, popen, log
        self._port: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = WAIT, since: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log()[since:])
            if found:
                return found
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = int(self.wait_log(r"listening on http://[\d.]+:(\d+)")[1])
        return self._port

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=WAIT)

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=WAIT)
                raise
        return self.popen.returncode


def start(command: str, tmp_path: Path, name: str, api_port: int, database_url: str, **settings: str) -> Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
        "LOVEBANK_TELEGRAM_API_URL": f"http://127.0.0.1:{api_port}/bot",
        "LOVEBANK_TELEGRAM_TOKEN": TOKEN,
        "LOVEBANK_DATABASE_URL": database_url,
        "LOVEBANK_ADMINS": f"telegram:{ADMIN}",
        "LOVEBANK_WEBHOOK_SECRET": SECRET,
        "LOVEBANK_HTTP_PORT": "0",
        "LOVEBANK_LEASE_SECONDS": "3",
        "PYTHONPATH": str(ROOT),
        **{f"LOVEBANK_{k.upper()}": v for k, v in settings.items()},
    }
    workdir = tmp_path / name
    workdir.mkdir(exist_ok=True)
    log = workdir / "log"
    popen = subprocess.Popen(
        [sys.executable, "-m", "bot", command], cwd=workdir, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    return Process(name, popen, log)


def post(port: int, payload: dict[str, Any], secret: str | None = SECRET, timeout: float = 10) -> int | None:
    """POST an update as Telegram does; the status, or None when the process did not answer."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram", data=json.dumps(payload).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def message(update_id: int, user_id: int, text_: str, chat_id: int | None = None) -> dict[str, Any]:
    chat = {"id": chat_id or user_id, "type": "private" if chat_id is None else "supergroup"}
    body: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"},
        "text": text_,
    }
    if text_.startswith("/"):
        body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text_.split()[0])}]
    return {"update_id": update_id, "message": body}


# --- the database ------------------------------------------------------------------------------


def fresh_postgres() -> str:
    """An empty, migrated PostgreSQL database (this worker's, tests/pg.py)."""
    from bot.kernel.db import Database
    from bot.kernel.migrate import upgrade

    assert PG_URL

    async def reset() -> None:
        db = Database(PG_URL)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        await db.dispose()
        await upgrade(PG_URL)

    asyncio.run(reset())
    return PG_URL


@dataclass
class Community:
    community_id: int
    workers: list[int]  # Telegram user ids
    volunteers: list[int]


def seed(url: str, workers: int, volunteers: int, channel: str = "telegram") -> Community:
    """A community with workers (user ids 101…) and registered volunteers (1001…) on `channel`
    (on WeChat the ids are their openids); the admin is user 1 there."""
    from bot.kernel.db import Database
    from bot.kernel.settings import Settings
    from bot.services import Services

    async def build() -> Community:
        settings = Settings(_env_file=None, database_url=url, admins=[f"{channel}:{ADMIN}"])  # type: ignore[call-arg]
        services = Services(Database(url), settings)
        people = services.people
        try:
            admin, _ = await services.run(
                people.identify, channel, str(ADMIN), display_name="管理员", chat_id=str(ADMIN)
            )
            community = await services.run(people.create_community, "阳光社区", actor_id=admin.id)
            worker_ids = [101 + i for i in range(workers)]
            for uid in worker_ids:
                p, _ = await services.run(
                    people.identify, channel, str(uid), display_name=f"社工{uid}", chat_id=str(uid)
                )
                await services.run(people.appoint_worker, admin.id, community.id, p.id)
            first_worker, _ = await services.run(
                people.identify, channel, str(worker_ids[0]), display_name=f"社工{worker_ids[0]}"
            )
            code = await services.run(people.create_invite, first_worker.id, community.id)
            volunteer_ids = [1001 + i for i in range(volunteers)]
            for i, uid in enumerate(volunteer_ids):
                p, _ = await services.run(
                    people.identify, channel, str(uid), display_name=f"志愿者{uid}", chat_id=str(uid)
                )
                await services.run(people.join, p.id, code)
                await services.run(people.register_volunteer, p.id, community.id, f"志愿者{uid}", f"1390000{i:04d}")
            return Community(community.id, worker_ids, volunteer_ids)
        finally:
            await services.db.dispose()

    return asyncio.run(build())


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from bot.kernel.db import Database

    async def run() -> list[tuple[Any, ...]]:
        db = Database(url)
        try:
            with db.engine.connect() as conn:
                return [tuple(r) for r in (conn.execute(text(sql), params)).all()]
        finally:
            await db.dispose()

    return asyncio.run(run())
