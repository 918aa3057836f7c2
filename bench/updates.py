"""`python -m bench updates`: Telegram updates per second through the production path.

A mix of updates (balance, history, one-line log, a worker's approve press, and the step-by-step
log by buttons) goes the way `lovebank serve` takes it, in process: the webhook's store
(`handlers.telegram.webhook.take_in`) commits it to the inbox, the inbox worker claims it, runs
its turn (dialog engine, services, database), sends the reply through the production Bot API
client (`make_bot`: python-telegram-bot's ExtBot and rate limiter, flood limit off) onto a
recording Bot API (`bench.botapi`) and marks it; the outbox worker sends the notifications in
rounds at most as often as it does in the process (woken after a turn, 0.1 s apart) and empties
the outbox inside the measured time. A bare python-telegram-bot echo bot on the same recording
Bot API shows what the library itself costs: `ratio_to_echo` is the bot's updates/s over the echo
bot's, per database.

Counted per update: every statement sent on every engine, BEGIN and COMMIT included, and every
hand-off to a database thread (`Database.run` and `Database.run_read`, wrapped for the run).
Honest by construction: the database holds a district (10,000 volunteers, 1,000,000 transfers,
200,000 logs; `--scale` shrinks it) with the measured people inside it, loaded with bulk INSERTs; every update must get
the reply it was meant to get, sent (a refusal, or an approve with nothing pending, is a failure
and the run exits 1), and every inbox entry must end handled and replied; the mix reported is the
one that ran. As `lovebank serve` once it listens, the updates start with what set-up built out
of the garbage collector's sight (`settle_memory`); `gc_pause_max_ms` is the collector's longest
pause from the warm-up on.

PostgreSQL: LOVEBANK_BENCH_DATABASE_URL, or database lovebank_bench_updates on 127.0.0.1:5432
(created when missing); its schema is wiped first. Without a server that part is skipped.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, event, func, or_, select, text
from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, MessageHandler, filters

from bench.botapi import RecordingRequest
from bench.common import postgres_url
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.runtime.app import settle_memory
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.inbound import TelegramChannel
from handlers.telegram.webhook import make_bot, take_in
from models import InboxEntry, Notification
from models.base import UTCDateTime

# Share of updates by kind; a step-by-step log is six updates (/log and five presses).
MIX = {"balance": 25, "history": 15, "log_line": 20, "approve": 20, "step_log": 20}
STEP_LOG = 6
WORKER = 900001
MEASURED = 200  # volunteers the updates come from, inside the district
FIRST_MEASURED = 910000
PENDING_AT_START = 60  # logs waiting for the worker, so the first approves have something to do
# A district: volunteers (the measured ones among them), transfers, service logs.
DISTRICT = {"volunteers": 10_000, "transfers": 1_000_000, "logs": 200_000}
TARGET = {
    "sqlite_ratio_to_echo_at_least": 0.3,
    "postgresql_ratio_to_echo_at_least": 0.15,
    "sqlite_p99_ms_at_most": 5,
    "handoffs_per_update_at_most": 3,
}
OUTBOX_GATHER = 0.1  # seconds: the outbox worker's rounds, woken by turns, are at least this far apart
# The reply an update must get, by kind (the step-by-step log: one per step).
EXPECTED = {
    "balance": "balance.show",
    "history": "history.page",
    "log_line": "log.submitted",
    "approve": "approve.done",
}
STEPS_EXPECTED = (
    "log.ask_category",
    "log.ask_date",
    "log.ask_duration",
    "log.ask_note",
    "log.confirm",
    "log.submitted",
)
LOG_MINUTES = (30, 60, 90, 120)
BACK_DAYS = 28


def unlimited() -> AIORateLimiter:
    """Telegram's flood limits (30 messages/s) measure Telegram, not the bot: off for the echo bot."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(latencies: list[float], extra_s: float = 0.0) -> dict[str, float]:
    """`extra_s`: time spent outside any update that still belongs to the run (the outbox's
    rounds), counted in updates_per_s."""
    total = sum(latencies) + extra_s
    return {
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / total, 1) if total else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


class StatementCounter:
    """Every statement sent to the database on the given engines: what SQLAlchemy executes, plus
    the transaction statements it does not show as cursor executions (BEGIN, COMMIT, ROLLBACK).
    SQLite's writer sends BEGIN IMMEDIATE from its own begin listener (bot.kernel.db), which the begin
    event counts; the readers (both databases) run in driver autocommit, so their begin/rollback
    send nothing."""

    def __init__(self) -> None:
        self.sent = 0
        self.by_verb: Counter[str] = Counter()

    def watch(self, engine: Engine, *, sends_transaction_statements: bool) -> None:
        def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            self.sent += 1
            self.by_verb[sql.lstrip().split(None, 1)[0].upper()] += 1

        event.listen(engine, "before_cursor_execute", statement)
        if sends_transaction_statements:
            for name in ("begin", "commit", "rollback"):
                event.listen(engine, name, self._transaction(name.upper()))

    def _transaction(self, verb: str) -> Any:
        def counted(conn: Any) -> None:
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                return  # PostgreSQL's readers: the driver sends no BEGIN, COMMIT or ROLLBACK
            self.sent += 1
            self.by_verb[verb] += 1

        return counted


class HandOffs:
    """Every hand-off to a database thread: `Database.run` and `Database.run_read` (a read-only
    turn's), wrapped for the run (whoever calls them)."""

    def __init__(self) -> None:
        self.count = 0

    def _counted(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def counted(db: Database, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(db, fn, *args, **kwargs)

        return counted

    @contextmanager
    def watch(self) -> Iterator[None]:
        run, run_read = Database.run, Database.run_read
        Database.run = self._counted(run)  # type: ignore[method-assign]
        Database.run_read = self._counted(run_read)  # type: ignore[method-assign]
        try:
            yield
        finally:
            Database.run, Database.run_read = run, run_read  # type: ignore[method-assign]


class Failed(Exception):
    pass


class Driver:
    """Makes updates as Telegram would and takes each through the production path, timing each
    and checking each got the reply it was meant to get, sent."""

    def __init__(
        self,
        pipeline: Pipeline,
        channel: TelegramChannel,
        api: RecordingRequest,
        rng: random.Random,
        today: date,
        pending: list[int],
    ) -> None:
        self.pipeline, self.channel, self.api, self.rng, self.today = pipeline, channel, api, rng, today
        self.services = pipeline.services
        self.next_id = 1
        self.pending = list(pending)
        self.used: set[tuple[int, date, int]] = set()  # (volunteer, day, minutes) logged already
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.engine: dict[str, float] = defaultdict(float)  # seconds inside the dialog engine
        self.statements: dict[str, int] = defaultdict(int)
        self.handoffs: dict[str, int] = defaultdict(int)
        self.counter = StatementCounter()
        self.handing = HandOffs()
        self.outbox = {"rounds": 0, "seconds": 0.0, "statements": 0, "handoffs": 0}
        self.last_round = 0.0
        self.failures: list[dict[str, Any]] = []
        self.ran: Counter[str] = Counter()  # what actually ran, by kind (a step-by-step log counted once)
        self.in_engine = 0.0
        self.keys: list[str] = []  # the reply keys of the last turn
        self.refused = False

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}

    def _message(self, user_id: int, text: str) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {
            "message_id": self.next_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self._user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.next_id, "message": message}

    def _press(self, user_id: int, data: str, message: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        return {
            "update_id": self.next_id,
            "callback_query": {
                "id": str(self.next_id),
                "from": self._user(user_id),
                "chat_instance": "ci",
                "data": data,
                "message": message,
            },
        }

    async def feed(self, kind: str, payload: dict[str, Any], expected: str) -> dict[str, Any]:
        """One update: stored as the webhook stores it, its turn run, its reply sent and marked.
        Returns the last message the bot sent (what the person sees). Raises Failed when the
        turn did not give the `expected` reply, or it was not sent."""
        seen = len(self.api.calls)
        engine, sql, handoffs = self.in_engine, self.counter.sent, self.handing.count
        self.keys, self.refused = [], False
        start = time.perf_counter()
        stored = await take_in(self.services, self.pipeline, payload)
        handled = await self.pipeline.inbox.drain()
        self.latencies[kind].append(time.perf_counter() - start)
        self.engine[kind] += self.in_engine - engine
        self.statements[kind] += self.counter.sent - sql
        self.handoffs[kind] += self.handing.count - handoffs
        calls = self.api.calls[seen:]
        await self.outbox_round()  # what the turn queued goes out as the process sends it (not this update's reply)
        sent = [c for c in calls if c.method in ("sendMessage", "editMessageText") and c.result is not None]
        if stored.status_code != 200 or handled != 1:
            raise Failed(f"{kind}: the webhook answered {stored.status_code}, {handled} entries handled")
        if (
            self.refused
            or expected not in self.keys
            or not sent
            or any(c.result is None for c in calls)
            or any(k.startswith("error.") for k in self.keys)
        ):
            raise Failed(
                f"{kind}: wanted {expected}, got {self.keys or 'no turn'}"
                f"{' (press refused)' if self.refused else ''}{'' if sent else ', nothing sent'}"
            )
        result = sent[-1].result
        return result if isinstance(result, dict) else {}

    async def outbox_round(self, *, now: bool = False) -> int:
        """A round of the outbox worker, as often as the running process makes one (woken by a
        turn, at least OUTBOX_GATHER apart), timed and counted apart from the updates."""
        if not now and time.perf_counter() - self.last_round < OUTBOX_GATHER:
            return 0
        sql, handoffs = self.counter.sent, self.handing.count
        start = time.perf_counter()
        tried = await self.pipeline.outbox.round()
        self.last_round = time.perf_counter()
        self.outbox["rounds"] += 1
        self.outbox["seconds"] += self.last_round - start
        self.outbox["statements"] += self.counter.sent - sql
        self.outbox["handoffs"] += self.handing.count - handoffs
        return tried

    # --- the kinds of update ------------------------------------------------------------------

    def volunteer(self) -> int:
        return FIRST_MEASURED + self.rng.randrange(MEASURED)

    def _fresh(self, days: range, minutes: tuple[int, ...]) -> tuple[int, date, int]:
        """A volunteer, day and duration not logged yet: the same again is asked about
        ("looks repeated"), which is a question, not the log this update is meant to make."""
        for _ in range(1000):
            pick = (self.volunteer(), self.today - timedelta(days=self.rng.choice(days)), self.rng.choice(minutes))
            if pick not in self.used:
                self.used.add(pick)
                return pick
        raise Failed("no fresh volunteer, day and duration left to log")

    def _remember_log(self, message: dict[str, Any]) -> None:
        found = re.search(r"H(\d+)", message.get("text", ""))
        if found:
            self.pending.append(int(found[1]))

    async def balance(self) -> None:
        await self.feed("balance", self._message(self.volunteer(), "/balance"), EXPECTED["balance"])

    async def history(self) -> None:
        await self.feed("history", self._message(self.volunteer(), "/history"), EXPECTED["history"])

    async def log_line(self) -> None:
        user, day, minutes = self._fresh(range(1, BACK_DAYS), LOG_MINUTES)
        text = f"/log {minutes}m 探访 {day.isoformat()} 陪王奶奶聊天"
        self._remember_log(await self.feed("log_line", self._message(user, text), EXPECTED["log_line"]))

    async def approve(self) -> None:
        if not self.pending:  # never quietly turned into another kind of update
            raise Failed("approve: nothing pending")
        log_id = self.pending.pop(self.rng.randrange(len(self.pending)))
        data = f"/approve H{log_id}"
        message = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": WORKER, "type": "private"},
            "text": f"H{log_id}",
            "reply_markup": {
                "inline_keyboard": [
                    [
                        {"text": "✅ 通过", "callback_data": data},
                        {"text": "❌ 驳回", "callback_data": f"/reject H{log_id}"},
                    ]
                ]
            },
        }
        await self.feed("approve", self._press(WORKER, data, message), EXPECTED["approve"])

    async def step_log(self) -> None:
        user, day, minutes = self._fresh(range(2), (60, 90, 120))
        when = "today" if day == self.today else "yesterday"
        shown = await self.feed("step_log", self._message(user, "/log"), STEPS_EXPECTED[0])
        for choice, expected in zip((None, when, str(minutes), "skip", "yes"), STEPS_EXPECTED[1:], strict=True):
            buttons = [b for row in shown.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
            if not buttons:
                raise Failed(f"step_log: no buttons to press before {expected}")
            data = buttons[0]["callback_data"] if choice is None else choice
            shown = await self.feed("step_log", self._press(user, data, shown), expected)
        self._remember_log(shown)

    def watch(self) -> None:
        """Time the dialog engine, keep each turn's reply keys, count the SQL on every engine."""
        dialogs = self.channel.dialogs
        handle = dialogs.handle

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                turn = await handle(*args, **kwargs)
                self.keys += [r.text.key for r in turn.replies]
                self.refused = self.refused or turn.press_refused
                return turn
            finally:
                self.in_engine += time.perf_counter() - start

        dialogs.handle = timed  # type: ignore[method-assign]
        db = self.services.db
        self.counter.watch(db.engine, sends_transaction_statements=True)
        if db.sqlite:  # PostgreSQL's reader is the writer's engine with options: its events are the writer's
            self.counter.watch(db.read_engine, sends_transaction_statements=False)

    def reset(self) -> None:
        self.latencies.clear()
        self.engine.clear()
        self.statements.clear()
        self.handoffs.clear()
        self.ran.clear()
        self.counter.by_verb.clear()
        self.outbox = {"rounds": 0, "seconds": 0.0, "statements": 0, "handoffs": 0}

    def results(self) -> dict[str, Any]:
        everything = [x for v in self.latencies.values() for x in v]
        outbox_s = float(self.outbox["seconds"])
        out: dict[str, Any] = summary(everything, outbox_s)
        out["outbox_ms"] = round(outbox_s * 1000, 2)
        out["outbox"] = {
            "rounds": self.outbox["rounds"],
            "sql": self.outbox["statements"],
            "handoffs": self.outbox["handoffs"],
        }
        out["engine_share"] = round(sum(self.engine.values()) / sum(everything), 3)
        out["sql_per_update"] = round(sum(self.statements.values()) / len(everything), 2)
        out["handoffs_per_update"] = round(sum(self.handoffs.values()) / len(everything), 2)
        out["sql_by_verb"] = dict(self.counter.by_verb.most_common())
        updates = Counter({k: len(v) for k, v in self.latencies.items()})
        out["mix_ran"] = {
            "updates": dict(updates),
            "percent": {k: round(100 * n / len(everything), 1) for k, n in sorted(updates.items())},
            "step_logs": self.ran["step_log"],
        }
        out["by_kind"] = {
            kind: {
                **summary(v),
                "engine_mean_ms": round(self.engine[kind] / len(v) * 1000, 2),
                "sql_per_update": round(self.statements[kind] / len(v), 1),
                "handoffs_per_update": round(self.handoffs[kind] / len(v), 1),
            }
            for kind, v in sorted(self.latencies.items())
        }
        return out

    async def run(self, updates: int) -> None:
        kinds = list(MIX)
        weights = [MIX[k] / (STEP_LOG if k == "step_log" else 1) for k in kinds]
        done = lambda: sum(len(v) for v in self.latencies.values())
        while done() < updates:
            kind = self.rng.choices(kinds, weights)[0]
            self.ran[kind] += 1
            try:
                await getattr(self, kind)()
            except Failed as exc:
                self.failures.append({"kind": kind, "why": str(exc)})
                if len(self.failures) > 20:
                    raise


# --- the district ---------------------------------------------------------------------------


async def prepare(services: Services) -> tuple[int, int]:
    """The measured people, made through the services as the bot would: a community, its worker,
    and MEASURED volunteers with Telegram identities. Returns (community id, category id)."""
    people = services.people
    community = await services.run(people.create_community, "基准社区")
    worker, _ = await services.run(people.identify, "telegram", str(WORKER), display_name="张社工", chat_id=str(WORKER))
    await services.run(people.appoint_worker, None, community.id, worker.id)
    code = await services.run(people.create_invite, worker.id, community.id)
    category = (await services.run(services.hours.categories, community.id))[0].id
    for i in range(MEASURED):
        uid = FIRST_MEASURED + i
        person, _ = await services.run(
            people.identify, "telegram", str(uid), display_name=f"志愿者{i}", chat_id=str(uid)
        )
        await services.run(people.join, person.id, code)
        await services.run(people.register_volunteer, person.id, community.id, f"志愿者{i}", f"138{i:08d}")
    return community.id, category


def load_district(services: Services, community: int, category: int, size: dict[str, int], today: date) -> list[int]:
    """Fills the community to district size with bulk INSERTs (a recursive CTE on SQLite,
    generate_series on PostgreSQL), the measured volunteers among the rest: their accounts get
    their share of the transfers and logs like everybody's. Returns the ids of the logs left
    pending for the worker."""
    db = services.db
    sqlite = db.sqlite
    now = datetime.now(UTC)

    def numbers(n: str) -> tuple[str, str]:
        """(a WITH clause or "", a FROM item) giving rows i = 0 .. :n - 1."""
        if sqlite:
            return (
                f"WITH RECURSIVE nums(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM nums WHERE i + 1 < :{n}) ",
                "nums",
            )
        return "", f"generate_series(0, :{n} - 1) AS nums(i)"

    def run(conn: Any, sql: str, **params: Any) -> None:
        types = [bindparam("at", type_=UTCDateTime())] if "at" in params else []
        conn.execute(text(sql).bindparams(*types), params)

    def day(expr: str) -> str:
        return f"date(:today, '-' || ({expr}) || ' days')" if sqlite else f"(CAST(:today AS date) - ({expr}))"

    def work() -> list[int]:
        with db.engine.begin() as conn:
            filler = max(0, size["volunteers"] - MEASURED)
            # No explicit ids: PostgreSQL's sequences must go on from here for the people made later.
            first = conn.scalar(text("SELECT coalesce(max(id), 0) + 1 FROM people"))
            with_, src = numbers("n")
            run(
                conn,
                f"INSERT INTO people (display_name, locale, is_admin, hide_name, community_id, created_at) "
                f"{with_}SELECT 'v' || i, 'zh-CN', false, false, :c, :at FROM {src}",
                n=filler,
                c=community,
                at=now,
            )
            run(
                conn,
                "INSERT INTO identities (person_id, channel, external_id, chat_id) "
                "SELECT id, 'telegram', 'd' || id, 'd' || id FROM people WHERE id >= :first",
                first=first,
            )
            run(
                conn,
                "INSERT INTO memberships (person_id, community_id, role, confirmed, joined_at) "
                "SELECT id, :c, 'volunteer', true, :at FROM people WHERE id >= :first",
                c=community,
                at=now,
                first=first,
            )
            run(
                conn,
                "INSERT INTO accounts (community_id, person_id, kind, posted, pending) "
                "SELECT :c, m.person_id, 'person', 0, 0 FROM memberships m WHERE m.community_id = :c "
                "AND m.role = 'volunteer' AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.community_id = :c "
                "AND a.kind = 'person' AND a.person_id = m.person_id)",
                c=community,
            )
            # Accounts numbered 0..k-1, so the n-th transfer goes to account n mod k by key lookup.
            conn.execute(
                text("CREATE TEMP TABLE bench_accounts (k INTEGER PRIMARY KEY, id INTEGER, person_id INTEGER)")
            )
            run(
                conn,
                "INSERT INTO bench_accounts (k, id, person_id) SELECT row_number() OVER (ORDER BY id) - 1, id, "
                "person_id FROM accounts WHERE community_id = :c AND kind = 'person'",
                c=community,
            )
            k = conn.scalar(text("SELECT count(*) FROM bench_accounts"))
            issuance = conn.scalar(
                text("SELECT id FROM accounts WHERE community_id = :c AND kind = 'issuance'"), {"c": community}
            )
            logs = (
                "INSERT INTO service_logs (community_id, person_id, category_id, service_date, minutes, "
                "points_per_hour, points, status, submitted_by_id, recorded_by_worker, created_at) "
            )
            run(
                conn,
                f"{logs}{with_}SELECT :c, a.person_id, :cat, {day('40 + i % 300')}, 60, 10, 10, 'approved', "
                "a.person_id, false, :at "
                f"FROM {src} JOIN bench_accounts a ON a.k = i % :k",
                n=size["logs"],
                c=community,
                cat=category,
                k=k,
                at=now,
                today=today.isoformat(),
            )
            first_log = conn.scalar(
                text("SELECT coalesce(min(id), 0) FROM service_logs WHERE community_id = :c"), {"c": community}
            )
            insert = (
                "INSERT INTO transfers (community_id, debit_account_id, credit_account_id, amount, kind, phase, "
                "idempotency_key, ref_type, ref_id, created_at) "
            )
            run(
                conn,
                f"{insert}{with_}SELECT :c, :issuance, a.id, 1 + i % 50, 'earn', 'posted', 'bench:' || i, 'log', "
                ":first_log + i % :logs, :at "
                f"FROM {src} JOIN bench_accounts a ON a.k = i % :k",
                n=size["transfers"],
                c=community,
                issuance=issuance,
                k=k,
                at=now,
                first_log=first_log,
                logs=max(1, size["logs"]),
            )
            # Pending logs of measured volunteers, from the day before yesterday back (the updates
            # log for today and yesterday too): what the worker approves first.
            run(
                conn,
                f"{logs}{with_}SELECT :c, who.person_id, :cat, {day(f'2 + i / {MEASURED}')}, 45, 10, 7, "
                f"'pending', who.person_id, false, :at FROM {src} JOIN identities who ON who.channel = 'telegram' "
                f"AND who.external_id = CAST(:first_measured + i % {MEASURED} AS TEXT)",
                n=PENDING_AT_START,
                c=community,
                cat=category,
                at=now,
                today=today.isoformat(),
                first_measured=FIRST_MEASURED,
            )
            run(
                conn,
                "UPDATE accounts SET posted = (SELECT coalesce(sum(t.amount), 0) FROM transfers t "
                "WHERE t.credit_account_id = accounts.id) WHERE community_id = :c AND kind = 'person'",
                c=community,
            )
            run(
                conn,
                "UPDATE accounts SET posted = -(SELECT coalesce(sum(t.amount), 0) FROM transfers t "
                "WHERE t.debit_account_id = accounts.id) WHERE id = :issuance",
                issuance=issuance,
            )
            conn.execute(text("DROP TABLE bench_accounts"))
            pending = list(conn.scalars(text("SELECT id FROM service_logs WHERE status = 'pending' ORDER BY id")))
        # PostgreSQL's planner gets its statistics, committed (an ANALYZE rolled back leaves none).
        # SQLite's is left without, as a bank's file is in use: with sqlite_stat1 it reads
        # /history by a worse index (55 ms an update instead of 3; see the README).
        if not db.sqlite:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        return pending

    return work()


async def bench_database(url: str, args: argparse.Namespace) -> dict[str, Any]:
    await upgrade(url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        telegram_token="123:abc",
        # Telegram's flood limit measures Telegram, and the per-person pace the inbox's flood
        # guard; neither is the bot's speed (the worker approves hundreds of logs a minute here).
        telegram_max_rate=0,
        inbox_per_minute=0,
    )
    services = Services(Database(url), settings)
    size = {k: int(v * args.scale) for k, v in DISTRICT.items()}
    try:
        community, category = await prepare(services)
        today = (await services.run(services.people.clock_of, community)).today()
        start = time.perf_counter()
        pending = await services.db.run(load_district, services, community, category, size, today)
        load_s = time.perf_counter() - start
        api = RecordingRequest()
        bot = make_bot(settings, api)
        await bot.initialize()
        channel = TelegramChannel(services, bot)
        pipeline = Pipeline(
            services, {"telegram": channel}, concurrency=settings.concurrency, lease=settings.lease_seconds
        )
        try:
            driver = Driver(pipeline, channel, api, random.Random(args.seed), today, pending)
            driver.watch()
            settle_memory()  # as `lovebank serve` does once it listens
            with driver.handing.watch(), collections_timed() as pauses:
                await driver.run(args.warmup)
                await drain(driver)
                driver.reset()
                driver.failures.clear()
                sent_before = await services.db.run(_delivered, services)
                await driver.run(args.updates)
                await drain(driver)  # the run ends when every notification is out
        finally:
            await bot.shutdown()
        out = driver.results()
        out["notifications_sent"] = await services.db.run(_delivered, services) - sent_before
        out["notifications_waiting"], out["notifications_held"] = await services.db.run(_waiting, services)
        unhandled = await services.db.run(_unhandled, services)
        if unhandled:
            driver.failures.append({"kind": "inbox", "why": f"{unhandled} inbox entries not handled and replied"})
        out["failures"] = len(driver.failures)
        out["failed"] = driver.failures[:5]
        out["district"] = {**size, "load_s": round(load_s, 1)}
        out["gc_pause_max_ms"] = round(max(pauses, default=0) * 1000, 2)
        return out
    finally:
        await services.db.dispose()


@contextmanager
def collections_timed() -> Iterator[list[float]]:
    """The garbage collector's pauses while the block runs, in seconds (every update in flight
    waits for one)."""
    pauses: list[float] = []
    started = [0.0]

    def timed(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    gc.callbacks.append(timed)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(timed)


async def drain(driver: Driver) -> None:
    """The outbox worker's rounds until nothing due is left."""
    while await driver.outbox_round(now=True):
        pass


def _unhandled(services: Services) -> int:
    """Inbox entries that did not end handled with their reply sent."""
    with services.db.read() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(InboxEntry)
                .where(or_(InboxEntry.status != "done", InboxEntry.replied.is_distinct_from("sent")))
            )
            or 0
        )


def _delivered(services: Services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).where(Notification.delivered_at.is_not(None))) or 0


def _waiting(services: Services) -> tuple[int, int]:
    """(undelivered notifications that were due, coalesced ones held back by design: a worker
    gets one "logs are waiting" message a minute, however many logs come in)."""
    with services.db.read() as session:
        rows = dict(
            session.execute(
                select(Notification.coalesce_key.is_not(None), func.count())
                .where(Notification.delivered_at.is_(None), Notification.parked_at.is_(None))
                .group_by(Notification.coalesce_key.is_not(None))
            ).all()
        )
    return rows.get(False, 0), rows.get(True, 0)


async def bench_echo(updates: int, warmup: int) -> dict[str, Any]:
    api = RecordingRequest()
    app = (
        ApplicationBuilder()
        .token("123:abc")
        .request(api)
        .get_updates_request(RecordingRequest())
        .rate_limiter(unlimited())
        .build()
    )

    async def echo(update: Update, context: Any) -> None:
        await update.message.reply_text(update.message.text)  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    latencies: list[float] = []
    async with app:
        for i in range(warmup + updates):
            payload = {
                "update_id": i + 1,
                "message": {
                    "message_id": i + 1,
                    "date": int(time.time()),
                    "chat": {"id": 42, "type": "private"},
                    "from": {"id": 42, "is_bot": False, "first_name": "echo"},
                    "text": f"你好 {i}",
                },
            }
            start = time.perf_counter()
            await app.process_update(Update.de_json(payload, app.bot))
            if i >= warmup:
                latencies.append(time.perf_counter() - start)
    return summary(latencies)


def _brief(figures: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in figures.items() if k not in ("by_kind", "failed")}, ensure_ascii=False)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bench": "updates",
        "updates": args.updates,
        "mix_percent": MIX,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.system(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }
    # The echo bot runs first and last; its better figure is the floor (less disturbed by others).
    echo = await bench_echo(args.updates, args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        out["sqlite"] = await bench_database(url, args)
        print(f"sqlite: {_brief(out['sqlite'])}", file=sys.stderr)
    if args.no_postgres:
        out["postgresql"] = {"skipped": "--no-postgres"}
    else:
        pg, why = await postgres_url("lovebank_bench_updates")
        if pg is None:
            out["postgresql"] = {"skipped": why}
        else:
            out["postgresql"] = await bench_database(pg, args)
            out["postgresql"]["database"] = why
            print(f"postgresql: {_brief(out['postgresql'])}", file=sys.stderr)
    again = await bench_echo(args.updates, args.warmup)
    out["echo_bot"] = max(echo, again, key=lambda e: e["updates_per_s"])
    print(f"echo bot: {json.dumps(out['echo_bot'])}", file=sys.stderr)
    for name in ("sqlite", "postgresql"):
        if "updates_per_s" in out[name]:
            out[name]["ratio_to_echo"] = round(out[name]["updates_per_s"] / out["echo_bot"]["updates_per_s"], 3)
    out["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    out["target"] = TARGET
    met = {
        "sqlite_ratio_to_echo": out["sqlite"]["ratio_to_echo"] >= TARGET["sqlite_ratio_to_echo_at_least"],
        "sqlite_p99": out["sqlite"]["p99_ms"] <= TARGET["sqlite_p99_ms_at_most"],
        "sqlite_handoffs": out["sqlite"]["handoffs_per_update"] <= TARGET["handoffs_per_update_at_most"],
    }
    if "ratio_to_echo" in out["postgresql"]:
        met["postgresql_ratio_to_echo"] = (
            out["postgresql"]["ratio_to_echo"] >= TARGET["postgresql_ratio_to_echo_at_least"]
        )
    out["target_met"] = met
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench updates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1500, help="measured updates per database")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="share of a district to load (1: 10,000 volunteers, 1,000,000 transfers, 200,000 logs)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    out = asyncio.run(run(args))
    print(json.dumps(out, ensure_ascii=False))
    failed = [
        name for name in ("sqlite", "postgresql") if out[name].get("failures") or out[name].get("notifications_waiting")
    ]
    if failed:
        print(
            f"updates that did not get their reply, or notifications left unsent: {', '.join(failed)}", file=sys.stderr
        )
        return 1
    return 0
