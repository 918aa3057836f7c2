"""`python -m bench updates`: Telegram updates per second through the whole bot.

A realistic mix of updates (balance, history, one-line log, a worker's approve press, and the
step-by-step log by buttons) goes through the full python-telegram-bot `Application` (handlers,
dialog engine, services, database, replies rendered and "sent") on the offline Bot API that
records what the bot sends, on SQLite and on PostgreSQL; a bare python-telegram-bot echo bot
on the same request object shows what the library itself costs. Updates are processed one at a
time, as `lovebank run` does (PTB's default), so updates_per_s is 1 / mean latency.

PostgreSQL: LOVEBANK_BENCH_DATABASE_URL, or database lovebank_bench_updates on 127.0.0.1:5432
(created when missing); its schema is wiped first. Without a server that part is skipped.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, MessageHandler, filters

from bench.common import postgres_url
from bot.db import Database
from bot.migrate import upgrade
from bot.services import Services
from bot.settings import Settings
from handlers.telegram import build_application
from handlers.telegram.offline import RecordingRequest

# Share of updates by kind; a step-by-step log is six updates (/log and five presses).
MIX = {"balance": 25, "history": 15, "log_line": 20, "approve": 20, "step_log": 20}
STEP_LOG = 6
WORKER = 900001
VOLUNTEERS = 40
TARGET = {"sqlite_p99_ms_under": 15, "updates_per_s_at_least": 1000}


def unlimited() -> AIORateLimiter:
    """Telegram's flood limits (30 messages/s) measure Telegram, not the bot: off here."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(latencies: list[float]) -> dict[str, float]:
    total = sum(latencies)
    return {
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / total, 1) if total else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


class Driver:
    """Makes updates as Telegram would and feeds them to the application, timing each."""

    def __init__(self, app: Application, api: RecordingRequest, rng: random.Random, today: date) -> None:
        self.app, self.api, self.rng, self.today = app, api, rng, today
        self.next_id = 1
        self.pending: deque[int] = deque()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.engine: dict[str, float] = defaultdict(float)  # seconds inside the dialog engine
        self.statements: dict[str, int] = defaultdict(int)  # SQL statements sent
        self.in_engine = 0.0
        self.sent_sql = 0

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}

    def _message(self, user_id: int, text: str) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"message_id": self.next_id, "date": int(time.time()),
                                   "chat": {"id": user_id, "type": "private"}, "from": self._user(user_id), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.next_id, "message": message}

    def _press(self, user_id: int, data: str, message: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        return {"update_id": self.next_id, "callback_query": {
            "id": str(self.next_id), "from": self._user(user_id), "chat_instance": "ci", "data": data,
            "message": message}}

    async def feed(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Process one update; returns the last message the bot sent (what the person sees)."""
        self.api.calls.clear()
        engine, sql = self.in_engine, self.sent_sql
        start = time.perf_counter()
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        self.latencies[kind].append(time.perf_counter() - start)
        self.engine[kind] += self.in_engine - engine
        self.statements[kind] += self.sent_sql - sql
        sent = [c for c in self.api.calls if c.method == "sendMessage"]
        if not sent:
            raise RuntimeError(f"{kind}: the bot sent nothing for {payload}")
        return sent[-1].result

    def _remember_logs(self, message: dict[str, Any] | None) -> None:
        found = re.search(r"H(\d+)", (message or {}).get("text", ""))
        if found:
            self.pending.append(int(found[1]))

    # --- the kinds of update ------------------------------------------------------------------

    def volunteer(self) -> int:
        return 910000 + self.rng.randrange(VOLUNTEERS)

    async def balance(self) -> None:
        await self.feed("balance", self._message(self.volunteer(), "/balance"))

    async def history(self) -> None:
        await self.feed("history", self._message(self.volunteer(), "/history"))

    async def log_line(self) -> None:
        day = self.today - timedelta(days=self.rng.randrange(0, 28))
        text = f"/log 30m 探访 {day.isoformat()} 陪王奶奶聊天"
        self._remember_logs(await self.feed("log_line", self._message(self.volunteer(), text)))

    async def approve(self) -> None:
        if not self.pending:
            await self.balance()
            return
        log_id = self.pending.popleft()
        data = f"/approve H{log_id}"
        message = {"message_id": 1, "date": int(time.time()), "chat": {"id": WORKER, "type": "private"},
                   "text": f"H{log_id}", "reply_markup": {"inline_keyboard": [[
                       {"text": "✅ 通过", "callback_data": data}, {"text": "❌ 驳回", "callback_data": f"/reject H{log_id}"}]]}}
        await self.feed("approve", self._press(WORKER, data, message))

    async def step_log(self) -> None:
        user = self.volunteer()
        shown = await self.feed("step_log", self._message(user, "/log"))
        for choice in (None, "today", "60", "skip", "yes"):
            assert shown is not None and "reply_markup" in shown, shown
            buttons = [b for row in shown["reply_markup"]["inline_keyboard"] for b in row]
            data = buttons[0]["callback_data"] if choice is None else choice
            shown = await self.feed("step_log", self._press(user, data, shown))
        self._remember_logs(shown)

    def watch(self, services: Services) -> None:
        """Count the time spent in the dialog engine and the SQL it sends."""
        dialogs = self.app.bot_data.dialogs
        handle = dialogs.handle

        async def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return await handle(*args)
            finally:
                self.in_engine += time.perf_counter() - start

        dialogs.handle = timed

        def count(*args: Any) -> None:
            self.sent_sql += 1

        for engine in {services.db.engine, services.db.read_engine}:
            event.listen(engine, "before_cursor_execute", count)

    def reset(self) -> None:
        self.latencies.clear()
        self.engine.clear()
        self.statements.clear()

    def results(self) -> dict[str, Any]:
        everything = [x for v in self.latencies.values() for x in v]
        out: dict[str, Any] = summary(everything)
        out["engine_share"] = round(sum(self.engine.values()) / sum(everything), 3)
        out["by_kind"] = {
            kind: {**summary(v), "engine_mean_ms": round(self.engine[kind] / len(v) * 1000, 2),
                   "sql_per_update": round(self.statements[kind] / len(v), 1)}
            for kind, v in sorted(self.latencies.items())
        }
        return out

    async def run(self, updates: int) -> None:
        kinds = list(MIX)
        weights = [MIX[k] / (STEP_LOG if k == "step_log" else 1) for k in kinds]
        done = lambda: sum(len(v) for v in self.latencies.values())  # noqa: E731
        while done() < updates:
            await getattr(self, self.rng.choices(kinds, weights)[0])()


async def prepare(services: Services) -> None:
    """A community, its worker and volunteers with Telegram identities, and some history."""
    people = services.people
    community = await people.create_community("基准社区")
    worker, _ = await people.identify("telegram", str(WORKER), display_name="张社工", chat_id=str(WORKER))
    await people.appoint_worker(None, community.id, worker.id)
    code = await people.create_invite(worker.id, community.id)
    category = (await services.hours.categories(community.id))[0].id
    today = services.hours.today(services.settings.timezone)
    for i in range(VOLUNTEERS):
        uid = 910000 + i
        person, _ = await people.identify("telegram", str(uid), display_name=f"志愿者{i}", chat_id=str(uid))
        await people.join(person.id, code)
        await people.register_volunteer(person.id, community.id, f"志愿者{i}", f"1380000{i:04d}")
        for day in range(3):
            log = await services.hours.submit(person.id, community.id, category_id=category,
                                              service_date=today - timedelta(days=day + 1), minutes=60)
            await services.hours.approve(worker.id, log.id)


async def bench_database(url: str, updates: int, warmup: int, seed: int) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(_env_file=None, database_url=url, telegram_token="123:abc")  # type: ignore[call-arg]
    services = Services(Database(url), settings)
    try:
        await prepare(services)
        api = RecordingRequest()
        app = build_application(services, settings, request=api, get_updates_request=RecordingRequest(),
                                rate_limiter=unlimited())
        async with app:
            driver = Driver(app, api, random.Random(seed), services.hours.today(settings.timezone))
            driver.watch(services)
            await driver.run(warmup)
            driver.reset()
            await driver.run(updates)
        return driver.results()
    finally:
        await services.db.dispose()


async def bench_echo(updates: int, warmup: int) -> dict[str, Any]:
    api = RecordingRequest()
    app = (ApplicationBuilder().token("123:abc").request(api).get_updates_request(RecordingRequest())
           .rate_limiter(unlimited()).build())

    async def echo(update: Update, context: Any) -> None:
        await update.message.reply_text(update.message.text)  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    latencies: list[float] = []
    async with app:
        for i in range(warmup + updates):
            payload = {"update_id": i + 1, "message": {
                "message_id": i + 1, "date": int(time.time()), "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "echo"}, "text": f"你好 {i}"}}
            api.calls.clear()
            start = time.perf_counter()
            await app.process_update(Update.de_json(payload, app.bot))
            if i >= warmup:
                latencies.append(time.perf_counter() - start)
    return summary(latencies)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "updates", "updates": args.updates, "mix_percent": MIX,
                           "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                       "system": platform.system(),
                                       "load_average_1m": round(os.getloadavg()[0], 2)}}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        out["sqlite"] = await bench_database(url, args.updates, args.warmup, args.seed)
        print(f"sqlite: {json.dumps({k: v for k, v in out['sqlite'].items() if k != 'by_kind'})}", file=sys.stderr)
    if args.no_postgres:
        out["postgresql"] = {"skipped": "--no-postgres"}
    else:
        pg, why = await postgres_url("lovebank_bench_updates")
        if pg is None:
            out["postgresql"] = {"skipped": why}
        else:
            out["postgresql"] = await bench_database(pg, args.updates, args.warmup, args.seed)
            out["postgresql"]["database"] = why
        print(f"postgresql: {json.dumps({k: v for k, v in out['postgresql'].items() if k != 'by_kind'})}",
              file=sys.stderr)
    out["echo_bot"] = await bench_echo(args.updates, args.warmup)
    print(f"echo bot: {json.dumps(out['echo_bot'])}", file=sys.stderr)
    out["target"] = TARGET
    out["target_met"] = {
        "sqlite_p99": out["sqlite"]["p99_ms"] < TARGET["sqlite_p99_ms_under"],
        "sqlite_updates_per_s": out["sqlite"]["updates_per_s"] >= TARGET["updates_per_s_at_least"],
    }
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench updates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1500, help="measured updates per database")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False))
    return 0
