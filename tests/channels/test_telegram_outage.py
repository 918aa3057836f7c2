"""Telegram down (5xx, no connection, timeouts) for a stretch, then back, through the outbox
worker and python-telegram-bot's own request path: the channel pauses (one probe at a time, no
notification's tries spent), resumes by itself, and everything arrives once; a reply waits the
outage out the same way. An error about one message (a 4xx) stays that message's own, and a
parked reply is logged with its reason."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import select

from bench.botapi import BLOCKED, FLOOD, NO_CONNECTION, TIMEOUT, RecordingRequest
from bot.kernel.i18n import Text
from bot.kernel.settings import Settings
from bot.messages.delivery import Down, Failed, Retry, Unreachable
from bot.messages.notify import notify
from bot.messages.outbox import Delivery
from bot.runtime.breaker import Breakers
from bot.runtime.pipeline import InboxWorker, OutboxWorker
from bot.services import Services
from handlers.telegram.inbound import TelegramChannel
from handlers.telegram.webhook import make_bot
from models import Identity, InboxEntry, Notification
from tests.channels.kit import served

pytestmark = pytest.mark.db


@pytest.fixture
async def bot_api(tg_services: Services, tg_settings: Settings) -> Any:
    api = RecordingRequest()
    bot = make_bot(served(tg_settings), api)  # the production client, on the recording Bot API
    await bot.initialize()
    yield api, TelegramChannel(tg_services, bot)
    await bot.shutdown()


async def _people(services: Services, count: int) -> list[tuple[int, str]]:
    people = []
    for n in range(count):
        person, identity = await services.run(
            services.people.identify, "telegram", str(5000 + n), display_name=f"p{n}", chat_id=str(5000 + n)
        )
        people.append((person.id, identity.external_id))
    return people


async def test_telegram_down_then_back_delivers_everything_once(tg_services: Services, bot_api: Any) -> None:
    api, channel = bot_api
    people = await _people(tg_services, 3)
    worker = OutboxWorker(tg_services, {"telegram": channel}, worker="test", breakers=Breakers(0.05, 0.2))

    def write(session: Any) -> None:
        for person_id, _ in people:
            for log in range(3):
                notify(
                    session,
                    tg_services.clock,
                    person_id,
                    "notify.log_approved",
                    log=100 * person_id + log,
                    points=10,
                    available=10,
                    date="2026-11-20",
                    category="探访",
                    hours="1",
                )

    await tg_services.db.run(tg_services.db.transaction, write)
    for down in (500, "timeout", "refused", 502):  # outages in a row, each a stretch of about 0.6 s
        api.down = down
        until = time.monotonic() + 0.6
        while time.monotonic() < until:
            await worker.round()
            await asyncio.sleep(0.01)
        # Paused: a probe every 0.05 … 0.2 s, not a try per notification and round.
        assert api.refused <= 3 + 6 * 4, api.refused
    breaker = worker.breakers["telegram"]
    assert breaker.paused() and "(502)" in breaker.reason  # the last outage's
    api.down = None
    deadline = time.monotonic() + 10
    while len(api.taken("sendMessage")) < 9:
        assert time.monotonic() < deadline, "not delivered after Telegram came back"
        await worker.round()
        await asyncio.sleep(0.01)
    assert not breaker.paused()
    for person_id, chat in people:
        texts = [c.text for c in api.taken("sendMessage", chat)]
        assert sorted(texts) == sorted(set(texts)) and len(texts) == 3
    with tg_services.db.read() as session:
        rows = session.execute(select(Notification.attempts, Notification.parked_at, Notification.delivered_at)).all()
    assert all(attempts == 0 and parked is None and delivered is not None for attempts, parked, delivered in rows)


async def test_only_platform_failures_are_down(tg_services: Services, bot_api: Any) -> None:
    api, channel = bot_api
    [(person_id, chat)] = await _people(tg_services, 1)
    delivery = Delivery(
        person_id,
        chat,
        "zh-CN",
        Text(
            "notify.log_approved",
            {"log": 1, "points": 10, "available": 10, "date": "2026-11-20", "category": "探访", "hours": "1"},
        ),
    )
    api.refuse(
        "send",
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (401, "Unauthorized"),
        (413, "Request Entity Too Large"),
        (400, "Bad Request: message is too long"),
        BLOCKED,
        FLOOD,
        TIMEOUT,
        NO_CONNECTION,
    )
    outcomes = [await channel.deliver(delivery) for _ in range(9)]
    assert [type(o) for o in outcomes] == [Down, Down, Down, Failed, Failed, Unreachable, Retry, Down, Down]
    assert outcomes[6] == Retry(3.0)  # Telegram's retry_after, as given
    with tg_services.db.read() as session:
        assert session.scalar(select(Identity.unreachable_at).where(Identity.external_id == chat)) is None


async def test_a_reply_waits_out_an_outage_and_a_refused_reply_is_parked_with_a_log_line(
    tg_services: Services, bot_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api, channel = bot_api
    worker = InboxWorker(tg_services, {"telegram": channel}, worker="test")

    async def update(update_id: int, user_id: int) -> Any:
        user = {"id": user_id, "is_bot": False, "first_name": "a"}
        payload = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "from": user,
                "text": "/help",
                "chat": {"id": user_id, "type": "private"},
            },
        }
        await tg_services.run(tg_services.inbox.store, "telegram", str(update_id), str(user_id), payload)
        await worker.drain()
        return await tg_services.run(tg_services.inbox.result, "telegram", str(update_id))

    caplog.set_level(logging.WARNING)
    api.down = 502
    waiting = await update(1, 6001)
    assert waiting is not None and waiting.status == "handled"  # handled; the reply waits, not counted
    assert worker.breakers["telegram"].paused()
    with tg_services.db.read() as session:
        assert session.scalar(select(InboxEntry.attempts).where(InboxEntry.platform_id == "1")) == 0
    assert not [r for r in caplog.records if "parked" in r.getMessage()]

    api.down = None
    worker.breakers["telegram"].up()
    api.refuse("send", (400, "Bad Request: message is too long"))
    parked = await update(2, 6002)  # another person (one person's updates go in order)
    assert parked is not None and parked.status == "parked"
    [line] = [r for r in caplog.records if "parked" in r.getMessage()]
    assert line.levelno == logging.WARNING and "message is too long" in line.getMessage().lower()
