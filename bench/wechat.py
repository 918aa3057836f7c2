"""`python -m bench wechat`: passive-reply latency of `POST /wechat` in safe mode, and how a day's
notifications reach people within WeChat's message budget.

500 messages from 50 people (10 each; a person waits for each answer before the next, the 50
people at once) are encrypted and signed as WeChat does and POSTed to the real ASGI app of
`lovebank serve` (signature check, decryption, the inbox, the inbox worker, the dialog engine,
services, the database, the encrypted passive reply), in process through httpx's ASGI transport.
The latency is from the request to the passive answer: WeChat gives up after 5 s; the target is
a p99 under 300 ms. `--people 500 --per-person 1 --concurrency 500` is 500 requests at once:
every answer must leave within the 5 s (a quick `success` when the queue is long, the reply then
going by the customer-service API). The mix: /balance, /help, /top, /mylogs and one-line /log (a write that also
notifies the workers, whom the outbox worker reaches through a stubbed WeChat API). Two workers
write too (/balance, three times a day).

The services' clock runs a day over the run, in rounds (everyone's next message, then the clock
moves on a tenth of a day), so the budget's windows and the one-"new logs"-message-a-minute rule
act as in a day: the figures say
which share of the day's notifications went as customer-service messages, as template messages
(`decision_waiting` is mapped to a template; `--no-templates`: none is), folded into the
answer to the person's next message, and which still wait for one at the end of the day.
`--people 20 --per-person 15` is the 300-message day of `tests/e2e/test_wechat_day.py` (20
volunteers, the 2 workers).

SQLite in a temporary file, and PostgreSQL from LOVEBANK_BENCH_DATABASE_URL or database
lovebank_bench_wechat on 127.0.0.1:5432 (created when missing; its schema is wiped). The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import random
import secrets
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bench.common import check, emit, machine, postgres_url, sqlite_url
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.web import Web
from handlers.wechat import xml
from handlers.wechat.crypto import MessageCrypto, sha1_signature
from handlers.wechat.webhook import setup as setup_wechat
from models import Notification, ServiceLog

TOKEN, APP_ID, APP_SECRET = "bench-token", "wxbench000000001", "bench-secret"
AES_KEY = base64.b64encode(bytes(range(32, 64))).decode().rstrip("=")
MIX = (("/balance", 30), ("/help", 15), ("/top", 15), ("/mylogs", 15), ("/log", 25))
# Each /log a person sends names another category or duration: the same hours twice on one day
# are asked about before being saved, a question rather than the write the mix means.
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


def log_line(n: int) -> str:
    return f"/log {15 * (1 + (n // len(CATEGORIES)) % 3)}m {CATEGORIES[n % len(CATEGORIES)]} 陪老人聊天"


TARGET_P99_MS = 300
WORKERS = ("oBenchWorker", "oBenchWorker2")
WORKER_EVERY = 4  # rounds: with 10 a day, the workers write three times (morning, noon, evening)
DAY = 24 * 3600.0
VIA = ("message", "template", "reply")


class DayClock(Clock):
    """Real time, moved on by `offset` seconds: a day of traffic in the length of a run."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


PUSHED: Counter[str] = Counter()  # API path → calls, for the day's figures


def fake_wechat_api(request: httpx.Request) -> httpx.Response:
    """WeChat's API as far as the workers' notifications need it."""
    PUSHED[request.url.path] += 1
    if request.url.path == "/cgi-bin/token":
        return httpx.Response(200, json={"access_token": secrets.token_hex(16), "expires_in": 7200})
    if request.url.path == "/cgi-bin/media/upload":
        return httpx.Response(200, json={"media_id": "m1"})
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


async def seed(services: Services, people: int) -> list[str]:
    _admin, _ = await services.run(services.people.identify, "console", "admin", display_name="admin")
    community = await services.run(services.people.create_community, "基准社区")
    for n, openid in enumerate(WORKERS):
        worker, _ = await services.run(services.people.identify, "wechat", openid, display_name=f"社工{n + 1}")
        await services.run(services.people.appoint_worker, None, community.id, worker.id)
    code = await services.run(services.people.create_invite, worker.id, community.id)
    openids = []
    for i in range(people):
        openid = f"oBench{i:04d}"
        person, _ = await services.run(services.people.identify, "wechat", openid, display_name=f"志愿者{i}")
        await services.run(services.people.join, person.id, code)
        await services.run(services.people.register_volunteer, person.id, community.id, f"志愿者{i}", f"1390000{i:04d}")
        openids.append(openid)
    return openids


async def run_on(
    url: str, people: int, per_person: int, seed_value: int, concurrency: int, templates: bool = True
) -> dict[str, Any]:
    await upgrade(url)
    mapping = Path(tempfile.mkdtemp()) / "templates.json"
    mapping.write_text(
        '{"decision_waiting": {"template_id": "bench-todo", '
        '"fields": {"thing1": "what", "number2": "count", "time3": "time"}}}'
        if templates
        else "{}"
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        wechat_token=TOKEN,
        wechat_aes_key=AES_KEY,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_url="http://wechat.invalid",
        wechat_templates=str(mapping),
    )
    clock = DayClock()
    PUSHED.clear()
    services = Services(Database(url), settings, clock)
    openids = await seed(services, people)
    # Leases in day-clock time: a step of the clock must not hand work in flight to another worker.
    pipeline = Pipeline(services, {}, concurrency=settings.concurrency, lease=3 * DAY)
    web = Web(services, pipeline)
    channel = setup_wechat(web, settings)
    await channel.api.client.aclose()
    channel.api.client = httpx.AsyncClient(
        base_url="http://wechat.invalid", transport=httpx.MockTransport(fake_wechat_api)
    )
    crypto = MessageCrypto(TOKEN, APP_ID, [AES_KEY])
    rng = random.Random(seed_value)
    texts, weights = zip(*MIX, strict=True)
    latencies: list[float] = []
    passive = 0
    next_id = iter(range(1, 10**9))
    in_flight = asyncio.Semaphore(concurrency)

    logs: dict[str, int] = {}

    async def say(client: httpx.AsyncClient, openid: str) -> None:
        nonlocal passive
        content = "/balance" if openid in WORKERS else rng.choices(texts, weights)[0]
        if content == "/log":
            logs[openid] = logs.get(openid, 0) + 1
            content = log_line(logs[openid])
        now = int(clock.now().timestamp())  # WeChat's clock agrees with ours (the day runs fast here)
        fields = {
            "ToUserName": "gh_bench",
            "FromUserName": openid,
            "CreateTime": now,
            "MsgType": "text",
            "Content": content,
            "MsgId": next(next_id),
        }
        timestamp, nonce = str(now), secrets.token_hex(4)
        encrypted = crypto.encrypt(xml.build(fields))
        query = {
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "signature": sha1_signature(TOKEN, timestamp, nonce),
            "msg_signature": crypto.signature(timestamp, nonce, encrypted),
        }
        body = xml.build({"ToUserName": "gh_bench", "Encrypt": encrypted}).encode()
        async with in_flight:
            started = time.perf_counter()
            response = await client.post(f"/wechat?{urlencode(query)}", content=body)
            latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"/wechat answered {response.status_code}: {response.text[:200]}")
        if response.text not in ("", "success"):
            reply = xml.parse(crypto.decrypt(xml.parse(response.text)["Encrypt"]))
            passive += bool(reply.get("Content"))

    pipeline.start()
    try:
        transport = httpx.ASGITransport(app=web.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://bank.bench") as client:
            for _ in range(per_person):  # warm up: first imports, caches, connections
                await say(client, openids[0])
            latencies.clear()
            passive = 0
            started = time.perf_counter()
            # The day in rounds: everyone's next message (the workers' three times a day), then
            # the clock moves on to the next round, with nothing in flight across the step.
            for round_ in range(per_person):
                clock.offset = round_ * DAY / per_person
                writers = (*openids, *(WORKERS if round_ % WORKER_EVERY == 0 else ()))
                await asyncio.gather(*(say(client, openid) for openid in writers))
            elapsed = time.perf_counter() - started
        # Every /log must have been saved (pending approval): a refusal or a question is no write.
        # A message answered `success` may still be in the worker's hands: wait while it progresses.
        saved, progress = 0, time.monotonic()
        while time.monotonic() - progress < 10:
            with services.db.read() as session:
                now_saved = session.scalar(select(func.count()).select_from(ServiceLog)) or 0
            if now_saved >= sum(logs.values()):
                saved = now_saved
                break
            if now_saved > saved:
                saved, progress = now_saved, time.monotonic()
            await asyncio.sleep(0.2)
        check(saved == sum(logs.values()), f"{saved} hours logs saved for {sum(logs.values())} /log messages")
        clock.offset += 120  # the day's last "new logs" go out (one such message a minute)
        shares = await day_shares(services)
    finally:
        await pipeline.stop()
        await channel.api.close()
        await services.db.dispose()
    return {
        "messages": len(latencies),
        "people": people,
        "passive_replies": passive,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "messages_per_s": round(len(latencies) / elapsed, 1),
        "within_wechat_5s": sum(latency < 5.0 for latency in latencies),
        "meets_target": percentile(latencies, 0.99) * 1000 < TARGET_P99_MS,
        "notifications": shares,
    }


async def day_shares(services: Services) -> dict[str, Any]:
    """Once the outbox has planned everything due: the day's notifications by how they went."""
    undecided = (Notification.delivered_at.is_(None), Notification.held_at.is_(None), Notification.parked_at.is_(None))
    left, progress = None, time.monotonic()
    while time.monotonic() - progress < 10:  # a loaded machine plans slowly, but it plans
        with services.db.read() as session:
            now_left = session.scalar(select(func.count()).select_from(Notification).where(*undecided))
        if not now_left:
            break
        if left is None or now_left < left:
            left, progress = now_left, time.monotonic()
        await asyncio.sleep(0.05)
    with services.db.read() as session:
        total = session.scalar(select(func.count()).select_from(Notification)) or 0
        via = dict(
            session.execute(
                select(Notification.delivered_via, func.count())
                .where(Notification.delivered_at.is_not(None))
                .group_by(Notification.delivered_via)
            ).all()
        )
        held = (
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.delivered_at.is_(None), Notification.held_at.is_not(None))
            )
            or 0
        )
        parked = (
            session.scalar(select(func.count()).select_from(Notification).where(Notification.parked_at.is_not(None)))
            or 0
        )
    check(parked == 0, f"{parked} notifications parked")
    check(sum(via.values()) + held == total, f"{total - sum(via.values()) - held} notifications not planned")
    share = {name: round(via.get(name, 0) / total, 3) if total else 0.0 for name in VIA}
    return {
        "total": total,
        **{f"by_{name}": share[name] for name in VIA},
        "waiting_for_next_message": round(held / total, 3) if total else 0.0,
        # What carried them: folded, a few pushes carry many notifications.
        "customer_service_messages": PUSHED["/cgi-bin/message/custom/send"],
        "template_messages": PUSHED["/cgi-bin/message/template/send"],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "wechat", "target_p99_ms_under": TARGET_P99_MS, "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = await run_on(
            sqlite_url(tmp), args.people, args.per_person, args.seed, args.concurrency, not args.no_templates
        )
    if args.no_postgres:
        result["postgresql"] = "skipped (--no-postgres)"
        return result
    url, name = await postgres_url("lovebank_bench_wechat")
    result["postgresql"] = (
        await run_on(url, args.people, args.per_person, args.seed, args.concurrency, not args.no_templates)
        if url
        else f"skipped: {name}"
    )
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench wechat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--per-person", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="requests WeChat has open at once")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--no-templates",
        action="store_true",
        help="no template mapped: past the budget, notifications wait for the next message",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    emit(asyncio.run(run(args)))
    return 0
