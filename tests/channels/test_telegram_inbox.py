"""Telegram updates through the inbox, as `lovebank serve` and `lovebank run` handle them: the
reply stored with the entry and sent after it committed; presses, forged buttons, group chatter,
an optional edit Telegram refuses, and failures backed off and parked."""

from __future__ import annotations

from typing import Any

import pytest

from bench.botapi import NOT_MODIFIED
from bot.kernel.clock import FixedClock
from bot.messages.delivery import MAX_TRIES
from bot.services import Services
from handlers.telegram.inbound import sender_of
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, texts

pytestmark = pytest.mark.db


async def test_messages_and_presses_are_answered_from_the_inbox(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    out = await tg.feed(cast.volunteer.message_update(text="/log"))
    [ask] = [c for c in out if c.method == "sendMessage"]
    assert "服务类别" in ask.text and ask.buttons
    data = ask.buttons[0]["callback_data"]
    out = await tg.feed(cast.volunteer.press_update(data, ask.result))
    assert [c.method for c in out] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert "哪天" in out[-1].text
    result = await tg_services.run(tg_services.inbox.result, "telegram", str(cast.volunteer.tg.next_id() - 1))
    assert result is not None and (result.status, result.replied) == ("done", "sent")
    assert [c["method"] for c in result.reply["calls"]] == ["answerCallbackQuery", "editMessageText", "sendMessage"]

    # A button that was never on the message: a toast, nothing handled.
    out = await tg.feed(cast.volunteer.press_update("/approve H1", ask.result))
    assert [c.method for c in out] == ["answerCallbackQuery"] and out[0].params["text"]
    # Chatter in a group is not for us: done, nothing sent.
    group = {"id": -100123, "type": "supergroup", "title": "群"}
    assert await tg.feed(cast.volunteer.message_update(group, text="大家好")) == []


async def test_an_edit_telegram_finds_unchanged_is_skipped_and_the_reply_still_sent(
    tg: Telegram, tg_services: Services
) -> None:
    cast = await found_community(tg, ADMIN_ID)
    assert "服务类别" in texts(await cast.volunteer.send("/log"))
    tg.api.refuse("editMessageText", NOT_MODIFIED)  # the client showed the choice already
    out = await cast.volunteer.press("探访")
    assert [(c.method, c.result is not None) for c in out] == [
        ("answerCallbackQuery", True),
        ("editMessageText", False),
        ("sendMessage", True),
    ]
    assert "哪天" in out[-1].text


async def test_a_failing_update_backs_off_then_is_parked_and_the_admins_told(
    tg: Telegram,
    tg_services: Services,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = tg.api
    cast = await found_community(tg, ADMIN_ID)

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(tg.channel.dialogs, "handle", broken)
    payload = cast.volunteer.message_update(text="/balance")
    assert await tg.feed(payload) == []
    for _ in range(MAX_TRIES - 1):
        clock.advance(seconds=700)
        await tg.drain()
    result = await tg_services.run(tg_services.inbox.result, "telegram", str(payload["update_id"]))
    assert result is not None and result.status == "parked"
    # The person hears once, when it is set aside, that something went wrong on our side.
    [sorry] = [c for c in api.calls if c.method == "sendMessage" and c.chat_id == str(cast.volunteer.id)][-1:]
    assert "系统出了点问题" in sorry.text
    [parked] = await tg_services.run(tg_services.inbox.parked)
    assert parked.attempts == MAX_TRIES and parked.error == "database on fire"
    notes = [d for d in await tg_services.run(tg_services.outbox.take, "telegram") if d.text.key == "inbox.parked"]
    assert {d.address for d in notes} == {str(ADMIN_ID)}
    monkeypatch.undo()
    assert await tg_services.run(tg_services.inbox.retry_parked, parked.id)
    out = [c for c in await tg.drain() if c.method == "sendMessage"]
    assert "可用积分" in out[0].text  # handled once the cause is gone


async def test_a_reply_telegram_refuses_is_parked_not_retried_forever(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    tg.api.fail = {"sendMessage"}
    payload = cast.volunteer.message_update(text="/balance")
    out = await tg.feed(payload)
    assert [c.method for c in out] == ["sendMessage"]  # tried once: a 400 will not mend itself
    result = await tg_services.run(tg_services.inbox.result, "telegram", str(payload["update_id"]))
    assert result is not None and result.status == "parked"


async def test_a_flood_from_one_person_never_slows_anyone_else(tg: Telegram, tg_services: Services) -> None:
    """3,000 updates queued from one member: another person's /balance is answered within 0.2 s
    by the running worker; the flooder is asked once to slow down and the rest wait their pace."""
    import asyncio
    import time

    from sqlalchemy import func, select

    from models import InboxEntry, Notification

    api, worker = tg.api, tg.pipeline.inbox
    cast = await found_community(tg, ADMIN_ID)
    flood = [cast.volunteer.message_update(text=f"第{n}条") for n in range(3000)]

    def store_all() -> None:
        for payload in flood:
            tg_services.inbox.store("telegram", str(payload["update_id"]), sender_of(payload), payload)

    running = asyncio.create_task(worker.run())

    async def balance() -> float:
        """Seconds from the worker's /balance stored to its answer sent."""
        ask = cast.worker.message_update(text="/balance")
        answered = len([c for c in api.calls if c.method == "sendMessage" and c.chat_id == str(cast.worker.id)])
        started = time.monotonic()
        await tg.post(ask)  # the webhook wakes the worker
        while len([c for c in api.calls if c.method == "sendMessage" and c.chat_id == str(cast.worker.id)]) <= answered:
            assert time.monotonic() - started < 5, "the worker's /balance was never answered"
            await asyncio.sleep(0.002)
        return time.monotonic() - started

    try:
        alone = sorted([await balance() for _ in range(3)])[1]  # this machine's speed, nobody queued
        await tg_services.db.run(store_all)
        behind = sorted([await balance() for _ in range(3)])
    finally:
        await worker.stop()
        await running
    # Within 0.2 s; on a machine too loaded for a /balance alone to take less than 0.1 s, within
    # twice that (the flooder's turn in flight at most).
    assert behind[1] < max(0.2, 2 * alone), f"/balance took {behind} s behind a flood, {alone:.3f} s alone"
    with tg_services.db.read() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(InboxEntry)
            .where(InboxEntry.sender == str(cast.volunteer.id), InboxEntry.status == "new")
        )
        told = session.scalars(select(Notification.key).where(Notification.key == "inbox.slow_down")).all()
    assert waiting >= 3000 - tg_services.inbox.pace.burst and told == ["inbox.slow_down"]
