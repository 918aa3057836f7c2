"""The /wechat webhook and the WeChat channel in one process, on the real ASGI app with its
inbox and outbox workers, against the WeChat stand-in: verification, refused signatures (nothing
stored), safe-mode passive replies, numbered taps, a retried MsgId (one effect, the same reply),
the 48-hour rule (template, or waiting for the next message), unfollowing, and report links."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from handlers.wechat import channel as channel_module
from handlers.wechat.templates import load as load_templates
from models import AuditEntry, Identity, InboxEntry, Notification, ServiceLog
from tests.wechat.serving import Served, count, serving, wechat_worker
from tests.wechat.standin import APIServer
from tests.world import World, make_world

pytestmark = pytest.mark.db


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    # A real clock: the inbox's holds and the outbox's backoff are real time here.
    return Services(database, settings, Clock())


@pytest.fixture
async def served(services: Services, settings: Settings, wechat_api: APIServer) -> AsyncIterator[Served]:
    async with serving(services, settings, wechat_api) as served:
        yield served


async def test_verification_and_bad_signatures_store_nothing(served: Served) -> None:
    query = served.wechat.request(served.wechat.event("oX", "subscribe"))[0]
    good = {k: query[k] for k in ("signature", "timestamp", "nonce")}
    answer = await served.client.get(f"/wechat?{urlencode({**good, 'echostr': 'hello-42'})}")
    assert (answer.status_code, answer.text) == (200, "hello-42")
    bad = await served.client.get(f"/wechat?{urlencode({**good, 'signature': '0' * 40, 'echostr': 'x'})}")
    assert bad.status_code == 403
    _, fields = served.wechat.text("oX", "/help")
    assert (await served.post(fields, bad_signature=True)).status == 403
    # A correct plain signature but a tampered ciphertext signature: refused too.
    query, body = served.wechat.request(fields)
    query["msg_signature"] = "f" * 40
    assert (await served.client.post(f"/wechat?{urlencode(query)}", content=body)).status_code == 403
    assert await count(served.services, InboxEntry) == 0
    assert await count(served.services, Identity, Identity.channel == "wechat") == 0


async def test_join_by_qr_register_and_log_by_taps_with_one_effect_per_msgid(served: Served) -> None:
    world: World = await make_world(served.services)
    code = await served.services.run(served.services.people.create_invite, world.worker, world.community_id)
    welcome = (await served.post(served.wechat.event("oNew", "subscribe", f"qrscene_{code}"))).message(
        served.wechat.crypto
    )
    assert "欢迎加入 幸福社区" in welcome["Content"] and "真实姓名" in welcome["Content"]
    asked = await served.say("oNew", "王小明")
    assert "手机号" in asked and "按钮" not in asked  # typed on WeChat: no button to share a contact
    assert "登记成功" in await served.say("oNew", "13912345678")
    menu = await served.say("oNew", "/log")
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=探访（10分/时）&msgmenuid=1">1. 探访（10分/时）</a>' in menu
    await served.say("oNew", "探访", menu_id="1")  # a tap
    await served.say("oNew", "1")  # a typed number: today
    await served.say("oNew", "2")  # 1 hour
    summary = await served.say("oNew", "陪王奶奶聊天")
    assert "时长：1 小时" in summary
    msg_id, fields = served.wechat.text("oNew", "提交", menu_id="1")
    first = await served.post(fields)
    again = await served.post(fields)  # WeChat's retry of the same MsgId
    assert first.message(served.wechat.crypto)["Content"] == again.message(served.wechat.crypto)["Content"]
    assert "已提交" in first.message(served.wechat.crypto)["Content"]
    assert await count(served.services, ServiceLog, ServiceLog.status == "pending") == 1
    assert await count(served.services, InboxEntry, InboxEntry.platform_id == str(msg_id)) == 1


async def test_48_hour_rule_waits_for_the_next_message(served: Served) -> None:
    await served.say("oLate", "/help")
    person = await served.services.run(served.services.people.identify, "wechat", "oLate", display_name="x")
    # More than 48 hours pass, on WeChat's side and ours.
    served.api.api.seen("oLate", at=0)
    _wrote_long_ago(served.services, "oLate")
    for _ in range(2):
        await served.services.db.run(served.services.db.transaction, lambda s: _note(s, served.services, person[0].id))

    def marked() -> bool:
        with served.services.db.read() as session:
            return session.scalar(select(Identity.unreachable_at).where(Identity.external_id == "oLate")) is not None

    # The outbox worker tries, finds the window closed and marks the person (within seconds, on a
    # busy machine too); the notifications wait.
    for _ in range(100):
        if marked():
            break
        await asyncio.sleep(0.1)
    assert marked()
    assert [s for s in served.api.api.sent if s.openid == "oLate"] == []
    answer = await served.say("oLate", "/balance")
    assert "您有 2 条新通知" in answer and answer.count("H7（探访，1 小时）已通过") == 2
    assert await count(served.services, Notification, Notification.delivered_at.is_(None)) == 0


async def test_a_message_that_comes_while_the_window_is_looked_at_reopens_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox finds the window closed while the person's message is on its way: that message
    (stored and answered before the outcome is recorded) reopens the window, and the
    notification goes out, instead of waiting for a message after it."""
    await served.say("oRace", "/help")
    person = await served.services.run(served.services.people.identify, "wechat", "oRace", display_name="x")
    _wrote_long_ago(served.services, "oRace")
    loop = asyncio.get_running_loop()
    real = channel_module.wrote_within
    answered: list[str] = []

    def looked_at_as_the_person_writes(*args: Any) -> bool:
        closed = real(*args)
        if args[3] == "oRace" and not answered:  # WeChat delivers the message meanwhile
            answered.append(asyncio.run_coroutine_threadsafe(served.say("oRace", "/balance"), loop).result(20))
        return closed

    monkeypatch.setattr(channel_module, "wrote_within", looked_at_as_the_person_writes)
    await served.services.db.run(served.services.db.transaction, lambda s: _note(s, served.services, person[0].id))
    [sent] = await served.api.api.until(lambda s: s.openid == "oRace" and "已通过" in s.content, timeout=20)
    assert sent.kind == "text"  # a customer-service message: the window is open again
    assert answered and "已通过" not in answered[0]  # it was being sent while the answer was made
    for _ in range(100):  # sent, then marked delivered
        if await count(served.services, Notification, Notification.delivered_at.is_(None)) == 0:
            break
        await asyncio.sleep(0.1)
    assert await count(served.services, Notification, Notification.delivered_at.is_(None)) == 0


def _wrote_long_ago(services: Services, openid: str) -> None:
    """The person's messages so far came 49 hours ago: their 48-hour window is closed."""
    with services.db.uow() as session:
        session.execute(
            InboxEntry.__table__.update()
            .where(InboxEntry.sender == openid)
            .values(received_at=services.clock.now() - timedelta(hours=49))
        )
        session.commit()


def _note(session: Any, services: Services, person_id: int) -> None:
    from bot.messages.notify import notify

    notify(
        session,
        services.clock,
        person_id,
        "notify.log_approved",
        log=7,
        points=10,
        available=10,
        date="2026-11-20",
        category="探访",
        hours="1",
    )


async def test_template_outside_the_window_when_configured(served: Served, settings: Settings, tmp_path: Path) -> None:
    await served.say("oTmpl", "/help")
    person, _ = await served.services.run(served.services.people.identify, "wechat", "oTmpl", display_name="x")
    served.api.api.seen("oTmpl", at=0)  # WeChat: more than 48 hours ago
    mapping = tmp_path / "templates.toml"
    mapping.write_text(
        '[hours_approved]\ntemplate_id = "TPL-HOURS"\n'
        'fields = { thing1 = "category", time2 = "date", number3 = "points", phrase4 = "status" }\n'
    )
    settings.wechat_templates = str(mapping)
    served.channel.templates = load_templates(settings)
    await served.services.db.run(served.services.db.transaction, lambda s: _note(s, served.services, person.id))
    [sent] = await served.api.api.until(lambda s: s.kind == "template", timeout=30)
    assert sent.openid == "oTmpl"
    assert sent.fields == {"thing1": "探访", "time2": "2026年11月20日", "number3": "10", "phrase4": "已通过"}
    # WeChat refused the customer-service message first (45015: out of its window), then the template went.
    assert [code for code, _ in served.api.api.refused] == [45015]
    for _ in range(50):  # recorded right after WeChat answered
        if await count(served.services, Notification, Notification.delivered_via == "template"):
            break
        await asyncio.sleep(0.1)
    assert await count(served.services, Notification, Notification.delivered_via == "template") == 1


async def test_unfollow_marks_unreachable_and_nothing_is_lost(served: Served) -> None:
    await served.say("oBye", "/help")
    person, _ = await served.services.run(served.services.people.identify, "wechat", "oBye", display_name="x")
    assert (await served.post(served.wechat.event("oBye", "unsubscribe"))).body == "success"
    with served.services.db.read() as session:
        assert session.scalar(select(Identity.unreachable_at).where(Identity.external_id == "oBye")) is not None
    await served.services.db.run(served.services.db.transaction, lambda s: _note(s, served.services, person.id))
    await asyncio.sleep(0.5)
    assert [s for s in served.api.api.sent if s.openid == "oBye"] == []  # waits: not sent to someone gone
    back = (await served.post(served.wechat.event("oBye", "subscribe"))).message(served.wechat.crypto)
    assert "您有 1 条新通知" in back["Content"]  # back: what waited comes with the answer
    await asyncio.sleep(0.3)
    assert [s for s in served.api.api.sent if s.openid == "oBye"] == []  # and only there


@pytest.mark.parametrize("busy", [False, True], ids=["quick", "busy"])
async def test_worker_on_wechat_report_link_chart_and_invite_qr(
    served: Served, busy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if busy:  # every turn misses the passive window, as on a loaded machine
        from handlers.wechat import channel, webhook

        monkeypatch.setattr(webhook, "PASSIVE_SECONDS", 0.0)
        monkeypatch.setattr(channel, "PASSIVE_SECONDS", 0.0)
    world = await make_world(served.services)
    await wechat_worker(served, world)
    month = f"{served.services.clock.now():%Y-%m}"
    text = await served.reply("oWorker", f"/report {month}")
    url = re.search(r"http\S+/download/(\S+)", text)
    assert url is not None, text
    download = await served.client.get(f"/download/{url.group(1)}")
    assert download.status_code == 200 and download.content[:2] == b"PK"  # an XLSX is a zip
    assert "attachment" in download.headers["content-disposition"]
    assert await count(served.services, AuditEntry, AuditEntry.action == "file.download") == 1
    with served.services.db.read() as session:  # who downloaded it: the address is in the audit
        details = session.scalar(select(AuditEntry.details).where(AuditEntry.action == "file.download"))
    assert details["client"] == "127.0.0.1" and url.group(1) not in str(details)
    assert (await served.client.get("/download/not-a-real-link")).status_code == 404
    # /chart: the caption answers (at once when it can), the picture follows through the API.
    assert "2026" in await served.reply("oWorker", "/chart")
    [picture] = await served.api.api.until(lambda s: s.kind == "image" and s.openid == "oWorker", timeout=30)
    assert served.api.api.media[picture.media_id][:8] == b"\x89PNG\r\n\x1a\n"
    # /invite: the code, and a QR code picture whose scene is that code.
    invite = await served.reply("oWorker", "/invite")
    code = re.search(r"[A-Z2-9]{8}", invite).group(0)
    await served.api.api.until(lambda s: s.kind == "image" and s.media_id != picture.media_id, timeout=30)
    assert code in served.api.api.qr.values()


@pytest.mark.parametrize("busy", [False, True], ids=["quick", "busy"])
async def test_a_picture_slower_than_the_passive_window_still_goes(
    served: Served, busy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart is drawn after the turn's commit; on a loaded machine that takes longer than the
    webhook's hold (busy) or than the rest of a passive answer waits (quick). With several inbox
    workers (PostgreSQL) another could claim the stored reply meanwhile and send it without its
    picture: the reply waits for the picture instead."""
    from bot.dialogs import engine
    from handlers.wechat import channel, webhook

    if busy:  # the turn itself misses the passive window
        monkeypatch.setattr(webhook, "PASSIVE_SECONDS", 0.0)
        monkeypatch.setattr(channel, "PASSIVE_SECONDS", 0.0)

    drawn = engine._draw

    async def slowly(later: Any) -> bytes | None:
        await asyncio.sleep(1.5)  # past the busy hold (0.5 s) and the rest-after a passive answer (1 s)
        return await drawn(later)

    monkeypatch.setattr(engine, "_draw", slowly)
    world = await make_world(served.services)
    await wechat_worker(served, world)
    assert "2026" in await served.reply("oWorker", "/chart")
    [picture] = await served.api.api.until(lambda s: s.kind == "image" and s.openid == "oWorker", timeout=30)
    assert served.api.api.media[picture.media_id][:8] == b"\x89PNG\r\n\x1a\n"


async def test_star_poster_reaches_a_worker_as_a_picture(served: Served) -> None:
    world = await make_world(served.services)
    await wechat_worker(served, world)
    last_week = served.services.clock.community("Asia/Shanghai").today() - timedelta(days=7)
    await served.services.run(
        served.services.hours.record,
        world.worker,
        world.community_id,
        [world.volunteer],
        category_id=world.categories["探访"],
        service_date=last_week,
        minutes=120,
    )
    summary = await served.services.run(served.services.star_posters.send, served.services.clock.now(), "week")
    assert summary.sent == 1
    # The outbox worker finds it: the poster goes out, then its text.
    [poster] = await served.api.api.until(lambda s: s.kind == "image" and s.openid == "oWorker", timeout=30)
    text = await served.api.api.until(lambda s: s.kind == "text" and "明星榜海报" in s.content, timeout=30)
    assert served.api.api.sent.index(poster) < served.api.api.sent.index(text[0])


async def test_menu_clicks(served: Served) -> None:
    # A CLICK on the custom menu runs its command; an unknown key runs nothing.
    click = (await served.post(served.wechat.event("oMenu", "CLICK", "balance"))).message(served.wechat.crypto)
    assert "社区" in click["Content"]  # not a member yet: told how to join
    assert (await served.post(served.wechat.event("oMenu", "CLICK", "/approve all"))).body == "success"


async def test_a_slow_turn_answers_success_and_the_reply_follows_by_the_api(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.dialogs.engine import Dialogs
    from handlers.wechat import channel, webhook

    monkeypatch.setattr(webhook, "PASSIVE_SECONDS", 0.3)
    monkeypatch.setattr(channel, "PASSIVE_SECONDS", 0.3)
    original = Dialogs.handle

    async def slow(self: Dialogs, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.6)  # longer than the passive window
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Dialogs, "handle", slow)
    _, fields = served.wechat.text("oSlow", "/help")
    answer = await served.post(fields)
    assert answer.body == "success"
    [pushed] = await served.api.api.until(lambda s: s.openid == "oSlow" and "/help" in s.content, timeout=30)
    # WeChat's retry after that gets "success" too: the reply went by the API, not twice.
    assert (await served.post(fields)).body == "success"
    await asyncio.sleep(0.3)
    assert [s for s in served.api.api.sent if s.openid == "oSlow"] == [pushed]


async def test_invite_without_a_qr_code_when_wechat_cannot_make_one(served: Served) -> None:
    world = await make_world(served.services)
    await wechat_worker(served, world)
    served.api.api.fail_next.append(45009)  # WeChat: the day's API quota is used up
    invite = await served.reply("oWorker", "/invite")
    assert re.search(r"[A-Z2-9]{8}", invite) and served.api.api.qr == {}


async def test_too_many_messages_in_a_row_waits_for_the_next_message(served: Served) -> None:
    await served.say("oBusy", "/help")
    person, _ = await served.services.run(served.services.people.identify, "wechat", "oBusy", display_name="x")
    served.api.api.cs_budget = 0  # WeChat counts differently: 45047 on our first push
    await served.services.db.run(served.services.db.transaction, lambda s: _note(s, served.services, person.id))
    for _ in range(50):
        await asyncio.sleep(0.1)
        with served.services.db.read() as session:
            if session.scalar(select(Notification.held_at)):
                break
    assert [code for code, _ in served.api.api.refused] == [45047]
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 0  # held, not parked
    served.api.api.cs_budget = 5
    assert "您有 1 条新通知" in await served.say("oBusy", "/balance")  # it came with the next answer
    assert await count(served.services, Notification, Notification.delivered_via == "reply") == 1


async def test_a_long_queue_answers_success_at_once_and_the_reply_goes_by_the_api(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_WAITING requests waiting in the process, a new one does not wait for its turn
    (it would miss WeChat's 5 s): `success` at once, the reply by the customer-service API."""
    from handlers.wechat import webhook

    monkeypatch.setattr(webhook, "MAX_WAITING", 0)
    started = time.monotonic()
    assert await served.say("oQueue", "/help") == ""  # `success`
    assert time.monotonic() - started < webhook.PASSIVE_SECONDS
    [sent] = await served.api.api.until(lambda s: s.kind == "text" and s.openid == "oQueue", timeout=30)
    assert "/help" in sent.content
