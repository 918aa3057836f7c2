"""Health that tells the truth: each configured channel checks its credentials at start (WeChat:
the shared access token; Telegram: getMe) and /readyz reports each as JSON, 503 while one cannot
send. A Telegram that cannot be reached at start does not stop WeChat: it is retried in the
background and joins when the Bot API answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.webhook import SECRET_HEADER
from handlers.telegram.webhook import setup as setup_telegram
from handlers.web import Web
from handlers.wechat.webhook import setup as setup_wechat
from tests.e2e.standin import TOKEN, BotAPI, serve
from tests.wechat.standin import Answer, APIServer, WeChatServer

pytestmark = pytest.mark.db


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    return Services(database, settings, Clock())


async def _web(services: Services, settings: Settings, *, telegram: bool = False) -> Web:
    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30.0))
    if telegram:
        setup_telegram(web, settings)
    setup_wechat(web, settings)
    await web.startup()
    return web


@pytest.fixture
async def running() -> AsyncIterator[list[Web]]:
    webs: list[Web] = []
    yield webs
    for web in webs:
        await web.pipeline.stop()
        for hook in web._shutdown:  # the channels' clients; the database is the fixture's to close
            await hook()


async def _ready(web: Web) -> tuple[int, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url="http://bank.test") as client:
        response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_a_wrong_appsecret_is_not_ready_and_says_why(
    services: Services, settings: Settings, running: list[Web], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wrong = settings.model_copy(update={"wechat_app_secret": SecretStr("not-the-secret")})
    web = await _web(services, wrong)
    running.append(web)
    assert await _ready(web) == (503, {"database": "ok", "wechat": "invalid appsecret (40125)"})
    assert any(
        r.levelno == logging.WARNING and "wechat: cannot send: invalid appsecret (40125)" in r.getMessage()
        for r in caplog.records
    )


async def test_right_credentials_are_ready(
    services: Services, settings: Settings, running: list[Web], wechat_api: APIServer
) -> None:
    web = await _web(services, settings)
    running.append(web)
    assert await _ready(web) == (200, {"database": "ok", "wechat": "ok"})
    assert wechat_api.api.token_fetches == 1
    await web.check_channels()  # the next check reads the shared token: no second fetch
    assert wechat_api.api.token_fetches == 1


async def test_telegram_unreachable_at_start_serves_wechat_and_joins_later(
    services: Services, settings: Settings, running: list[Web], wechat_api: APIServer
) -> None:
    bot_api = BotAPI()
    server = serve(bot_api)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()  # nothing listens there now: connection refused
    both = settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": f"http://127.0.0.1:{port}/bot",
            "webhook_secret": SecretStr("s3cret"),
            "outage_probe_seconds": 0.2,
            "outage_probe_max_seconds": 0.4,
        }
    )
    started = time.monotonic()
    web = await _web(services, both, telegram=True)
    running.append(web)
    assert time.monotonic() - started < 10
    web.pipeline.start()
    status, report = await _ready(web)
    assert status == 503 and report["wechat"] == "ok" and report["telegram"].startswith("not started: cannot reach")
    assert "telegram" not in web.pipeline.channels
    wechat = WeChatServer("http://bank.test", wechat_api.api)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url="http://bank.test") as client:
        query, body = wechat.request(wechat.text("oH", "/help")[1])
        response = await client.post(f"/wechat?{urlencode(query)}", content=body)
        answer = Answer(response.status_code, response.text, 0.0)
        assert answer.status == 200 and "/help" in answer.message(wechat.crypto)["Content"]  # the help, passively
        # An update Telegram posts meanwhile is kept, and handled once the channel is up.
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 7, "type": "private"},
                "from": {"id": 7, "is_bot": False, "first_name": "a"},
                "text": "/help",
            },
        }
        assert (await client.post("/telegram", json=update, headers={SECRET_HEADER: "s3cret"})).status_code == 200

    back = serve(bot_api, port)  # Telegram is back
    try:
        deadline = time.monotonic() + 10
        while "telegram" not in web.pipeline.channels:
            assert time.monotonic() < deadline, "Telegram did not join after the Bot API came back"
            await asyncio.sleep(0.05)
        await web.check_channels()
        assert await _ready(web) == (200, {"database": "ok", "wechat": "ok", "telegram": "ok"})
        while not [c for c in bot_api.delivered() if c.chat_id == "7"]:  # the waiting update's answer
            assert time.monotonic() < deadline + 10, "the update that waited was not answered"
            await asyncio.sleep(0.05)
    finally:
        back.shutdown()
        back.server_close()
