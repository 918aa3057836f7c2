"""The Telegram channel's machinery: command menus, a turn that fails, the outbox's sending,
media replies and long texts, and `lovebank run` without a token. (Scheduled jobs run on
`bot.runtime.scheduler`, tested in tests/unit/test_scheduler.py.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bench.botapi import RecordingRequest
from bot.dialogs.core import Document, Reply, option
from bot.kernel.clock import FixedClock
from bot.kernel.i18n import T
from bot.kernel.settings import Settings
from bot.messages.delivery import MAX_TRIES
from bot.services import Services
from handlers.telegram.menus import Menu, description
from handlers.telegram.replies import reply_calls, send_call, split_text
from handlers.telegram.webhook import file_api_url, refresh_menus
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, running, texts


@pytest.mark.db
async def test_menus_per_role_and_language(tg: Telegram, tg_services: Services) -> None:
    startup = tg.api.sent("setMyCommands")
    assert [(c.params["scope"]["type"], c.params.get("language_code")) for c in startup] == [
        ("default", None),
        ("default", "en"),
    ]
    zh, en = ({c["command"]: c["description"] for c in call.params["commands"]} for call in startup)
    assert zh["log"] == "记录服务时长（也可以 /log 2h 探访 备注）" and zh["balance"] == "查看积分余额"
    assert en["balance"] == "your points"
    assert "pending" not in zh and "newcommunity" not in zh  # workers' and admins' commands are theirs

    menus: dict[str, Menu] = {}  # as the running process keeps them (handlers.telegram.webhook.keep_menus)
    await refresh_menus(tg.channel.bot, tg_services, menus)
    await found_community(tg, ADMIN_ID)
    tg.api.clear()
    await refresh_menus(tg.channel.bot, tg_services, menus)
    chats = {
        c.params["scope"]["chat_id"]: {x["command"] for x in c.params["commands"]} for c in tg.api.sent("setMyCommands")
    }
    assert set(chats) == {ADMIN_ID, 2002}  # only the staff get their own menu; defaults unchanged
    assert {"pending", "approve", "invite"} <= chats[2002] and "newcommunity" not in chats[2002]
    assert {"pending", "newcommunity", "appoint"} <= chats[ADMIN_ID]
    tg.api.clear()
    await refresh_menus(tg.channel.bot, tg_services, menus)
    assert tg.api.sent("setMyCommands") == []  # nothing changed, nothing sent


def test_menu_descriptions_drop_the_usage() -> None:
    assert description("zh-CN", "help.reject") == "驳回服务记录或兑换（R4）"
    assert description("en", "help.start").startswith("join")


@pytest.mark.db
async def test_a_menu_failure_is_logged_not_fatal(
    tg_services: Services, tg_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    api = RecordingRequest()
    api.fail = {"setMyCommands"}
    async with running(tg_services, tg_settings, api) as tg:
        assert "setMyCommands for default failed" in caplog.text
        user = tg.user(7007, "孙大爷")
        assert "爱心银行" in texts(await user.send("/start"))  # the bot works without its menu


@pytest.mark.db
async def test_a_failing_turn_apologises_in_the_persons_language(
    tg: Telegram,
    tg_services: Services,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried again with a growing pause, then set aside with one apology, in the language the
    person's Telegram client speaks (the turn that would have known more is what failed)."""
    cast = await found_community(tg, ADMIN_ID)
    english = tg.user(cast.volunteer.id, cast.volunteer.first_name, cast.volunteer.username, language="en")

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(tg.channel.dialogs, "handle", broken)
    with caplog.at_level(logging.ERROR):
        assert await english.send("/balance") == []  # not answered yet: tried again later
        assert await cast.worker.send("/pending") == []
        out = []
        for _ in range(MAX_TRIES - 1):
            clock.advance(seconds=700)
            out += await tg.drain()
    apologies = {c.chat_id: c.text for c in out if c.method == "sendMessage"}
    assert apologies[str(english.id)].startswith("Sorry, something went wrong")
    assert "the database caught fire" in caplog.text
    assert "系统出了点问题" in apologies[str(cast.worker.id)]  # the worker reads Chinese
    assert len([c for c in out if c.chat_id == str(english.id)]) == 1  # once, not once per try


@pytest.mark.db
async def test_the_pump_coalesces_and_survives_a_failed_send(
    tg: Telegram, tg_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    cast = await found_community(tg, ADMIN_ID)
    assert await tg.deliver() == 1  # the new worker is told of the appointment
    for line in ("/log 1h 探访", "/log 2h 助餐", "/log 1h 咨询"):
        await cast.volunteer.send(line)
    tg.api.clear()
    tg.api.fail = {"sendMessage"}  # e.g. the admin blocked the bot
    assert await tg.deliver() == 0
    assert "not sent" in caplog.text
    assert len(tg.api.sent("sendMessage")) == 2  # one try per worker, not one per log
    tg.api.fail = set()
    await cast.worker.send("/approve all")
    tg.api.clear()
    assert await tg.deliver() == 3  # the volunteer hears of each approval
    assert {c.chat_id for c in tg.api.sent("sendMessage")} == {str(cast.volunteer.id)}


async def test_documents_photos_and_long_texts() -> None:
    from telegram import Bot

    api = RecordingRequest()
    bot = Bot("123:abc", request=api, get_updates_request=RecordingRequest())
    async with bot:
        chat_data: dict[str, Any] = {}
        for call in reply_calls(
            42,
            "zh-CN",
            [
                Reply(
                    T("balance.show", available=1, pending=0, earned=1, hours="1", level=""),
                    document=Document("report-2026-11.csv", b"name,hours\n"),
                ),
                Reply(T("lang.set"), image=b"\x89PNG\r\n"),
                Reply(T("lang.set"), photo="AgADphoto"),
                Reply(T("help.title", commands=["x" * 3000, "y" * 3000]), (option("/help", "help.help"),)),
            ],
            chat_data,
        ):
            await send_call(bot, call)
    methods = [c.method for c in api.calls if c.method != "getMe"]
    assert methods == ["sendDocument", "sendPhoto", "sendPhoto", "sendMessage", "sendMessage"]
    document, image, photo, part1, part2 = (c for c in api.calls if c.method != "getMe")
    assert document.files == ["document"] and "可用积分" in document.params["caption"]
    assert image.files == ["photo"] and photo.params["photo"] == "AgADphoto"
    assert "reply_markup" not in part1.params and part2.buttons[0]["callback_data"] == "/help"
    assert all(len(c.text) <= 4096 for c in (part1, part2))


def test_split_text_keeps_everything() -> None:
    text = "\n".join(f"第 {i} 行 " + "字" * (i % 50) for i in range(600))
    parts = split_text(text, limit=500)
    assert all(len(p) <= 500 for p in parts) and "\n".join(parts) == text
    assert split_text("z" * 1200, limit=500) == ["z" * 500, "z" * 500, "z" * 200]


def test_file_url_follows_the_api_url() -> None:
    assert file_api_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_api_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


def test_run_without_a_token_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.kernel.settings import get_settings
    from bot.runtime import cli

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("LOVEBANK_TELEGRAM_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run"])
    finally:
        get_settings.cache_clear()
    assert str(exit_.value) == "lovebank: LOVEBANK_TELEGRAM_TOKEN is not set (the bot token from @BotFather)"
