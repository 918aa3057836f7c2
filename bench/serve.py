"""`python -m bench serve`: updates per second through real `lovebank serve` processes, end to end.

Telegram updates are POSTed over HTTP to the webhook of one process, then of two processes (each
person's updates always to the same one), on PostgreSQL; each update is timed from its POST until
the reply reaches a local stand-in for the Bot API. Each simulated person sends their next update
when the reply to the last has arrived (as a person in a chat does); `--people` of them at once.
The mix: 50% /balance, 30% one-line /log, 20% /history.

Telegram's flood limit is off (LOVEBANK_TELEGRAM_MAX_RATE=0): at 30 messages a second it would
cap one process at about 30 updates a second and measure Telegram, not the bot. So is the inbox's
per-person pace (LOVEBANK_INBOX_PER_MINUTE=0): each simulated person sends several updates a
second, a flood the pace would hold back.

Also measured: the CPU seconds the bot processes, PostgreSQL and this process (the load generator
and the Bot API stand-in) used, per update, which says where the time goes on a small machine.

PostgreSQL: LOVEBANK_BENCH_DATABASE_URL, or database lovebank_bench_serve on 127.0.0.1:5432
(created when missing); its schema is wiped first. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from bench.common import asyncpg_dsn, check, emit, machine, postgres_url
from bench.updates import percentile

TOKEN = "123:bench"
SECRET = "bench-secret"
ROOT = Path(__file__).resolve().parent.parent
MIX = (("/balance", 50), ("/log", 30), ("/history", 20))
# A one-line /log never repeats a category and duration of the same day (a repeat asks first),
# and a day gets at most 9 hours (the cap is 16): each day takes 2 × 12 logs, then the day before.
CATEGORIES = (
    "探访",
    "助餐",
    "助洁",
    "助医",
    "助急",
    "助乐",
    "家政",
    "培训辅导",
    "咨询",
    "义务维修",
    "治安巡逻",
    "纠纷调解",
)


LOGS: dict[int, int] = {}  # person → one-line logs sent so far


def log_line(n: int) -> str:
    day, k = divmod(n, 2 * len(CATEGORIES))
    on = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=day)  # the seeded community's zone
    return f"/log {15 * (1 + k // len(CATEGORIES))}m {CATEGORIES[k % len(CATEGORIES)]} {on.isoformat()} bench"


class BotAPI:
    """A small asyncio HTTP/1.1 server answering the Bot API like Telegram; it wakes whoever
    waits for a reply in a chat."""

    def __init__(self) -> None:
        from bench.botapi import RecordingRequest

        self.answers = RecordingRequest(keep=False)
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.sent = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = (await reader.readexactly(length)).decode() if length else ""
                method = path.rsplit("/", 1)[-1]
                params = {k: v[0] for k, v in parse_qs(body).items()}
                result = self.answers.answer(method, params)
                if method == "sendMessage":
                    self.sent += 1
                    waiter = self.waiting.pop(str(params.get("chat_id")), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(time.perf_counter())
                data = json.dumps({"ok": True, "result": result}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(data)).encode()
                    + b"\r\n\r\n"
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


async def seed(url: str, people: int) -> None:
    from bot.kernel.db import Database
    from bot.kernel.migrate import upgrade
    from bot.kernel.settings import Settings
    from bot.services import Services

    await upgrade(url)
    services = Services(Database(url), Settings(_env_file=None, database_url=url, admins=["telegram:1"]))  # type: ignore[call-arg]
    p = services.people
    try:
        admin, _ = await services.run(p.identify, "telegram", "1", display_name="管理员", chat_id="1")
        community = await services.run(p.create_community, "阳光社区", actor_id=admin.id)
        worker, _ = await services.run(p.identify, "telegram", "2", display_name="社工", chat_id="2")
        await services.run(p.appoint_worker, admin.id, community.id, worker.id)
        code = await services.run(p.create_invite, worker.id, community.id)
        for i in range(people):
            uid = 10_000 + i
            person, _ = await services.run(
                p.identify, "telegram", str(uid), display_name=f"志愿者{i}", chat_id=str(uid)
            )
            await services.run(p.join, person.id, code)
            await services.run(p.register_volunteer, person.id, community.id, f"志愿者{i}", f"1370000{i:04d}")
    finally:
        await services.db.dispose()


def start_process(
    workdir: Path, name: str, url: str, api_port: int, concurrency: int
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
        "LOVEBANK_DATABASE_URL": url,
        "LOVEBANK_TELEGRAM_TOKEN": TOKEN,
        "LOVEBANK_WEBHOOK_SECRET": SECRET,
        "LOVEBANK_TELEGRAM_API_URL": f"http://127.0.0.1:{api_port}/bot",
        "LOVEBANK_HTTP_PORT": "0",
        "LOVEBANK_CONCURRENCY": str(concurrency),
        "PYTHONPATH": str(ROOT),
        # Telegram's flood limit (30 messages a second a bot) measures Telegram, not the bot; the
        # inbox's per-person pace (a flood guard: 60 a minute after a burst) would hold each
        # person's updates once the bot answers faster than that, and tell them to slow down.
        "LOVEBANK_TELEGRAM_MAX_RATE": "0",
        "LOVEBANK_INBOX_PER_MINUTE": "0",
    }
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=workdir, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    return process, log


async def port_of(process: subprocess.Popen[bytes], log: Path) -> int:
    for _ in range(600):
        found = re.search(r"listening on http://[\d.]+:(\d+)", log.read_text(errors="replace"))
        if found:
            return int(found[1])
        if process.poll() is not None:
            raise SystemExit(f"bench serve: the bot process exited:\n{log.read_text(errors='replace')[-2000:]}")
        await asyncio.sleep(0.1)
    raise SystemExit("bench serve: the bot process did not start")


async def load(
    api: BotAPI, ports: list[int], people: int, seconds: float, rng: random.Random, first_update: int
) -> tuple[list[float], float, int]:
    import httpx

    latencies: list[float] = []
    next_id = [first_update]
    deadline = time.perf_counter() + seconds
    texts = [t for t, weight in MIX for _ in range(weight)]

    async def person(client: httpx.AsyncClient, uid: int, port: int) -> None:
        while time.perf_counter() < deadline:
            next_id[0] += 1
            update_id = next_id[0]
            body = {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": int(time.time()),
                    "chat": {"id": uid, "type": "private"},
                    "from": {"id": uid, "is_bot": False, "first_name": "v"},
                    "text": rng.choice(texts),
                },
            }
            if body["message"]["text"] == "/log":
                LOGS[uid] = LOGS.get(uid, 0) + 1
                body["message"]["text"] = log_line(LOGS[uid])
            body["message"]["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(body["message"]["text"].split()[0])}
            ]
            reply: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            api.waiting[str(uid)] = reply
            started = time.perf_counter()
            response = await client.post(
                f"http://127.0.0.1:{port}/telegram", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            if response.status_code != 200:
                raise SystemExit(f"bench serve: the webhook answered {response.status_code}")
            try:
                done = await asyncio.wait_for(reply, 30)
            except TimeoutError:
                raise SystemExit(f"bench serve: no reply to update {update_id} within 30 s") from None
            latencies.append(done - started)

    began = time.perf_counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=people * 2), timeout=30) as client:
        await asyncio.gather(*(person(client, 10_000 + i, ports[i % len(ports)]) for i in range(people)))
    return latencies, time.perf_counter() - began, next_id[0]


async def measure(
    url: str, workdir: Path, processes: int, people: int, seconds: float, concurrency: int, first_update: int
) -> tuple[dict[str, Any], int]:
    api = BotAPI()
    api_port = await api.start()
    started = [start_process(workdir, f"p{processes}-{i}", url, api_port, concurrency) for i in range(processes)]
    try:
        ports = [await port_of(p, log) for p, log in started]
        rng = random.Random(processes)
        await load(api, ports, people, 3.0, rng, first_update)  # warm-up: connections, caches
        first_update += 1_000_000
        cpu_before = [cpu_seconds(p.pid) for p, _ in started]
        pg_before, me_before = postgres_cpu(), time.process_time()
        latencies, elapsed, last = await load(api, ports, people, seconds, rng, first_update)
        cpu = sum(cpu_seconds(p.pid) for p, _ in started) - sum(cpu_before)
        pg, me = postgres_cpu() - pg_before, time.process_time() - me_before
    finally:
        for p, _ in started:
            p.terminate()
        for p, _ in started:
            p.wait(timeout=60)
        api.server.close()
    n = len(latencies)
    return {
        "processes": processes,
        "updates": n,
        "seconds": round(elapsed, 2),
        "updates_per_s": round(n / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "cpu_ms_per_update": {
            "bot_processes": round(cpu / n * 1000, 2),
            "postgresql": round(pg / n * 1000, 2),
            "load_and_stand_in": round(me / n * 1000, 2),
        },
        "cpu_busy_of_2_cores": round((cpu + pg + me) / (elapsed * (os.cpu_count() or 1)), 2),
    }, last + 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url, why = await postgres_url("lovebank_bench_serve")
    if url is None:
        return {"benchmark": "serve", "skipped": why}
    await seed(url, args.people)
    with tempfile.TemporaryDirectory() as tmp:
        one, next_update = await measure(url, Path(tmp), 1, args.people, args.seconds, args.concurrency, 1)
        two, _ = await measure(url, Path(tmp), 2, args.people, args.seconds, args.concurrency, next_update + 2_000_000)
    # Every one-line /log must have been saved: a refusal is a reply too, but no update the mix meant.
    import psycopg

    with psycopg.connect(asyncpg_dsn(url)) as conn:
        saved = conn.execute("SELECT count(*) FROM service_logs").fetchone()[0]
    check(saved == sum(LOGS.values()), f"{saved} hours logs saved for {sum(LOGS.values())} /log updates")
    return {
        "benchmark": "serve",
        "machine": machine(),
        "load": {
            "people_at_once": args.people,
            "seconds": args.seconds,
            "mix": dict(MIX),
            "concurrency_per_process": args.concurrency,
        },
        "one": one,
        "two": two,
        "scaling_2_over_1": round(two["updates_per_s"] / one["updates_per_s"], 2),
        "target": {"scaling_2_over_1_at_least": 1.6},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench serve")
    parser.add_argument("--people", type=int, default=32, help="people sending at once (default 32)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="LOVEBANK_CONCURRENCY of each process")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False, indent=2), file=sys.stderr)
    emit(result)
    return 0
