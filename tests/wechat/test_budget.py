"""WeChat's customer-service budget through the outbox, against the stand-in that enforces it (5
within 48 hours of a message, 3 within a minute of a click; 45047 past it) and today's template
rules (typed fields, 47003, no first/remark): a worker whose volunteers log 12 times in an hour
gets at most 5 pushed messages and every log in them, in templates or in the next answer; what
waits is folded into one message, most important first."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.messages.notify import notify
from bot.runtime import metrics
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.web import Web
from handlers.wechat.templates import load as load_templates
from handlers.wechat.webhook import setup as setup_wechat
from models import Notification, SendBudget
from tests.wechat.standin import APIServer, WeChatServer
from tests.wechat.test_webhook import Served, count, wechat_worker
from tests.world import World, make_world

pytestmark = pytest.mark.db

PENDING = re.compile(r"有 (\d+) 条新的服务记录等待审核")


class Shifted(Clock):
    """Real time moved forward by `offset` seconds, shared with the stand-in: an hour of traffic
    in a few seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


@pytest.fixture
def shifted() -> Shifted:
    return Shifted()


@pytest.fixture
async def services(database: Database, settings: Settings, shifted: Shifted) -> Services:
    return Services(database, settings, shifted)


@pytest.fixture
async def served(
    services: Services, settings: Settings, wechat_api: APIServer, shifted: Shifted
) -> AsyncIterator[Served]:
    wechat_api.api.clock = lambda: time.time() + shifted.offset
    pipeline = Pipeline(services, {}, concurrency=4, lease=30.0)
    web = Web(services, pipeline)
    channel = setup_wechat(web, settings)
    pipeline.outbox.poll = 0.1
    pipeline.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web.app()), base_url="http://bank.test"
        ) as client:
            yield Served(client, WeChatServer("http://bank.test", wechat_api.api), channel, services, wechat_api)
    finally:
        await pipeline.stop()
        await channel.api.close()


async def settled(services: Services, person_id: int) -> None:
    """Until every notification for the person is delivered or held (the outbox has planned it)."""
    waiting = (
        Notification.person_id == person_id,
        Notification.delivered_at.is_(None),
        Notification.held_at.is_(None),
        Notification.parked_at.is_(None),
    )
    for _ in range(200):
        if not await count(services, Notification, *waiting):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not settle the notifications")


async def twelve_logs_in_an_hour(served: Served, world: World, shifted: Shifted) -> None:
    today = served.services.clock.community("Asia/Shanghai").today()
    for i in range(12):
        shifted.offset += 300  # every five minutes
        await served.services.run(
            served.services.hours.submit,
            world.volunteers[i % 3],
            world.community_id,
            category_id=world.categories["探访"],
            service_date=today,
            minutes=15 * (1 + i),
        )
        await settled(served.services, world.worker)


def logs_in(text: str) -> int:
    return sum(int(n) for n in PENDING.findall(text))


async def test_twelve_logs_in_an_hour_reach_the_worker_within_the_budget(served: Served, shifted: Shifted) -> None:
    refused_before = metrics.REGISTRY.get_sample_value("lovebank_budget_refused_total", {"channel": "wechat"}) or 0
    world = await make_world(served.services)
    await wechat_worker(served, world)  # the worker's message opens WeChat's budget: 5 within 48 h
    await twelve_logs_in_an_hour(served, world, shifted)
    pushed = served.api.api.pushed("oWorker")
    # /metrics counts the sends the budget held back (this process's counter).
    assert (
        metrics.REGISTRY.get_sample_value("lovebank_budget_refused_total", {"channel": "wechat"}) or 0
    ) > refused_before
    # At most 5 (one kept back for an urgent alert), and WeChat never had to refuse one.
    assert 1 <= len(pushed) <= 5 and served.api.api.refused == []
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 0
    held = await count(
        served.services,
        Notification,
        Notification.person_id == world.worker,
        Notification.held_at.is_not(None),
        Notification.delivered_at.is_(None),
    )
    assert held == 12 - logs_in("\n".join(p.content for p in pushed)) > 0
    # The worker writes again: everything held comes with the answer (a passive reply, free).
    answer = await served.say("oWorker", "/balance")
    assert logs_in("\n".join(p.content for p in pushed)) + logs_in(answer) == 12
    assert len(served.api.api.pushed("oWorker")) == len(pushed)
    assert (
        await count(
            served.services, Notification, Notification.person_id == world.worker, Notification.delivered_at.is_(None)
        )
        == 0
    )
    assert await count(served.services, Notification, Notification.delivered_via == "reply") == held


async def test_past_the_budget_a_template_goes_with_fields_cut_to_their_type(
    served: Served, settings: Settings, shifted: Shifted, tmp_path: Path
) -> None:
    mapping = tmp_path / "templates.json"
    mapping.write_text(
        '{"decision_waiting": {"template_id": "TPL-TASKS", '
        '"fields": {"thing1": "summary", "number2": "count", "time3": "time"}}}'
    )
    settings.wechat_templates = str(mapping)
    served.channel.templates = load_templates(settings)
    world = await make_world(served.services)
    await wechat_worker(served, world)
    await twelve_logs_in_an_hour(served, world, shifted)
    pushed, templates = served.api.api.pushed("oWorker"), served.api.api.pushed("oWorker", "template")
    assert len(pushed) <= 5 and templates and served.api.api.refused == []
    assert logs_in("\n".join(p.content for p in pushed)) + sum(int(t.fields["number2"]) for t in templates) == 12
    for sent in templates:  # "有 1 条新的服务记录等待审核，发送 /pending 查看。" is longer than a thing's 20
        assert len(sent.fields["thing1"]) == 20 and sent.fields["thing1"].endswith("…")
        assert "first" not in sent.fields and "remark" not in sent.fields
    assert await count(served.services, Notification, Notification.held_at.is_not(None)) == 0


async def test_what_waits_is_folded_into_one_message_most_important_first(served: Served) -> None:
    world = await make_world(served.services)
    await wechat_worker(served, world)

    def three(session: Any) -> None:  # written together: one round of the outbox finds them all
        clock = served.services.clock
        notify(
            session,
            clock,
            world.worker,
            "deadline.digest",
            community="幸福社区",
            deadline="18:00",
            count=1,
            lines="H1 · 志愿者1 · 应于 12:00 前 · 已逾期 6 小时",
        )
        notify(session, clock, world.worker, "notify.pending_logs", coalesce="pending_logs")
        notify(
            session,
            clock,
            world.worker,
            "visits.notify.needs_help",
            alert="A1",
            by="志愿者1",
            ref="E1",
            name="王奶奶",
            age=86,
            note="摔倒",
            address="幸福路 1 号",
            phone="13800000000",
            emergency="王先生",
        )

    await served.services.db.run(served.services.db.transaction, three)
    await settled(served.services, world.worker)
    [message] = served.api.api.pushed("oWorker")
    text = message.content
    assert text.startswith("🔔 您有 3 条新通知")
    assert text.index("🆘 求助 A1") < text.index("有 1 条新的服务记录") < text.index("截止 18:00")


async def test_a_template_that_does_not_fit_is_refused_and_the_notification_waits(
    served: Served, settings: Settings, tmp_path: Path
) -> None:
    await served.say("oT", "/help")
    person, _ = await served.services.run(served.services.people.identify, "wechat", "oT", display_name="x")
    served.api.api.cs_budget = 0  # WeChat: 45047 at once
    mapping = tmp_path / "templates.toml"  # a template id the account does not have: 40037
    mapping.write_text('[hours_approved]\ntemplate_id = "TPL-GONE"\nfields = { thing1 = "category" }\n')
    settings.wechat_templates = str(mapping)
    served.channel.templates = load_templates(settings)
    await served.services.db.run(
        served.services.db.transaction,
        lambda s: notify(
            s,
            served.services.clock,
            person.id,
            "notify.log_approved",
            log=7,
            points=10,
            available=10,
            date="2026-11-20",
            category="探访",
            hours="1",
        ),
    )
    await settled(served.services, person.id)
    assert [code for code, _ in served.api.api.refused] == [45047, 40037]
    assert await count(served.services, Notification, Notification.held_at.is_not(None)) == 1
    with served.services.db.read() as session:  # WeChat's 45047 closed our count too
        assert session.scalar(select(SendBudget.used).where(SendBudget.address == "oT")) == 5


async def test_a_click_opens_three_pushes_for_a_minute(served: Served, shifted: Shifted) -> None:
    await served.post(served.wechat.event("oC", "CLICK", "help"))
    assert await served.services.run(served.services.budgets.remaining, "wechat", "oC") == 3
    shifted.offset += 61
    assert await served.services.run(served.services.budgets.remaining, "wechat", "oC") == 0


async def test_the_retired_single_template_stops_the_start_with_what_to_set(
    services: Services, settings: Settings
) -> None:
    from bot.kernel.settings import SettingsError

    settings.wechat_template_id = "OLD-TEMPLATE"  # filled first/keyword1/keyword2/remark before May 2023
    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30.0))
    with pytest.raises(SettingsError) as caught:
        setup_wechat(web, settings)
    assert "LOVEBANK_WECHAT_TEMPLATES" in str(caught.value) and "LOVEBANK_WECHAT_TEMPLATE_ID" in str(caught.value)


async def test_new_logs_held_by_the_one_a_minute_rule_come_with_the_workers_next_answer(
    served: Served, shifted: Shifted
) -> None:
    world = await make_world(served.services)
    await wechat_worker(served, world)
    today = served.services.clock.community("Asia/Shanghai").today()

    async def log(minutes: int) -> None:
        await served.services.run(
            served.services.hours.submit,
            world.volunteers[0],
            world.community_id,
            category_id=world.categories["探访"],
            service_date=today,
            minutes=minutes,
        )

    await log(30)
    await settled(served.services, world.worker)
    assert logs_in(served.api.api.pushed("oWorker")[0].content) == 1
    await log(45)  # within the minute: not pushed (one "new logs" message a minute)...
    await asyncio.sleep(0.3)
    assert len(served.api.api.pushed("oWorker")) == 1
    # ...but the worker writes meanwhile: the free answer carries it, and no push follows.
    assert logs_in(await served.say("oWorker", "/balance")) == 1
    assert (
        await count(
            served.services, Notification, Notification.person_id == world.worker, Notification.delivered_at.is_(None)
        )
        == 0
    )
    shifted.offset += 120
    await asyncio.sleep(0.3)
    assert len(served.api.api.pushed("oWorker")) == 1
