"""WeChat's API through the stand-in: one access token shared by two processes (one fetch),
refreshed once after 40001 and the call retried once, the token and the secret never logged."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from handlers.wechat.api import WeChatAPI, WeChatError
from handlers.wechat.tokens import LEASE, TokenStore
from models import AccessToken
from tests.wechat.standin import APP_SECRET, APIServer


def other_process(database_url: str, settings: Settings, clock: FixedClock) -> Services:
    return Services(Database(database_url), settings, clock)


def token_store(services: Services) -> TokenStore:
    """The access-token store of the process `services` belongs to."""
    return TokenStore(services.db, services.clock)


class Fetches:
    """WeChat's token endpoint as the store sees it: token-1, token-2…, after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.count = delay, 0

    async def __call__(self) -> tuple[str, int]:
        self.count += 1
        number = self.count
        await asyncio.sleep(self.delay)
        return f"token-{number}", 7200


async def test_two_processes_share_one_token_and_refresh_after_40001(
    services: Services,
    settings: Settings,
    clock: FixedClock,
    database_url: str,
    wechat_api: APIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What an operator's log shows (INFO), and everything this channel and httpx say.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="handlers")
    second = other_process(database_url, settings, clock)
    one, two = WeChatAPI(settings, token_store(services)), WeChatAPI(settings, token_store(second))
    try:
        wechat_api.api.seen("oA")
        await one.send_text("oA", "第一条")
        await two.send_text("oA", "第二条")
        assert wechat_api.api.token_fetches == 1 and await services.db.run(one.tokens.fetches, one.app) == 1
        # WeChat stops accepting the token: the first caller refreshes once and retries once.
        wechat_api.api.fail_next.append(40001)
        await one.send_text("oA", "第三条")
        assert wechat_api.api.token_fetches == 2
        # The other process's cached token is now retired; it finds the new one in the database
        # instead of fetching a third.
        await two.send_text("oA", "第四条")
        assert wechat_api.api.token_fetches == 2
        assert [s.content for s in wechat_api.api.sent] == ["第一条", "第二条", "第三条", "第四条"]
        # Rejected twice in a row: refreshed once, retried once, then the error is the caller's.
        wechat_api.api.fail_next.extend([40001, 40001])
        with pytest.raises(WeChatError) as caught:
            await one.send_text("oA", "第五条")
        assert caught.value.code == 40001 and wechat_api.api.token_fetches == 3
    finally:
        await one.close()
        await two.close()
        await second.db.dispose()
    assert caplog.records  # the fetches were logged, without the token
    for record in caplog.records:
        assert APP_SECRET not in record.getMessage()
        assert not any(token in record.getMessage() for token in wechat_api.api.issued)


async def test_window_and_burst_errors_reach_the_caller(
    services: Services, settings: Settings, wechat_api: APIServer
) -> None:
    api = WeChatAPI(settings, token_store(services))
    try:
        with pytest.raises(WeChatError) as caught:
            await api.send_text("oNeverWrote", "hi")
        assert caught.value.code == 45015
        wechat_api.api.cs_budget = 1
        wechat_api.api.seen("oB")
        await api.send_text("oB", "1")
        with pytest.raises(WeChatError) as caught:
            await api.send_text("oB", "2")
        assert caught.value.code == 45047
        media_id = await api.upload_image(b"\x89PNG-bytes")
        assert wechat_api.api.media[media_id] == b"\x89PNG-bytes"
        qr = await api.create_qr("ABCD2345")
        assert wechat_api.api.qr[qr.url.rsplit("/", 1)[1]] == "ABCD2345"
    finally:
        await api.close()


async def test_many_callers_in_two_processes_fetch_once(
    services: Services,
    settings: Settings,
    clock: FixedClock,
    database_url: str,
) -> None:
    second = other_process(database_url, settings, clock)
    slow_fetch = Fetches(delay=0.2)  # WeChat takes its time: everyone else waits for this one
    try:
        tokens = await asyncio.gather(
            *(store.get("wechat:wx1", slow_fetch) for store in [token_store(services), token_store(second)] * 10)
        )
        assert slow_fetch.count == 1 and set(tokens) == {"token-1"}
    finally:
        await second.db.dispose()


async def test_other_writes_go_on_while_a_token_is_fetched(services: Services) -> None:
    """No transaction stays open across WeChat's HTTP call: on SQLite that would hold the
    process's one writer, and every write with it, until WeChat answered."""
    answer = asyncio.Event()

    async def slow_fetch() -> tuple[str, int]:
        await answer.wait()
        return "token-1", 7200

    getting = asyncio.create_task(token_store(services).get("wechat:wx1", slow_fetch))
    await asyncio.sleep(0.2)  # the fetch has begun; WeChat has not answered
    assert not getting.done()
    await asyncio.wait_for(
        services.db.run(services.db.transaction, lambda session: session.add(AccessToken(app="other", fetches=0))), 2
    )
    answer.set()
    assert await asyncio.wait_for(getting, 2) == "token-1"


async def test_a_fetch_in_another_process_is_waited_for_and_its_lease_passes_if_it_died(
    services: Services,
    settings: Settings,
    clock: FixedClock,
    database_url: str,
) -> None:
    second = other_process(database_url, settings, clock)
    fetch = Fetches()

    async def fails() -> tuple[str, int]:
        raise TimeoutError("WeChat did not answer")

    try:
        # A fetch that fails gives the lease back at once: the next caller fetches, nobody waits.
        with pytest.raises(TimeoutError):
            await token_store(services).get("wechat:wx1", fails)
        assert await asyncio.wait_for(token_store(second).get("wechat:wx1", fetch), 2) == "token-1"
        # Another process took the lease to fetch and was killed before WeChat answered.
        await services.db.run(
            services.db.transaction,
            lambda session: session.add(AccessToken(app="wechat:wx2", fetches=0, refresh_until=clock.now() + LEASE)),
        )
        getting = asyncio.create_task(token_store(second).get("wechat:wx2", fetch))
        await asyncio.sleep(0.5)
        assert not getting.done() and fetch.count == 1  # waiting for that process's fetch
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert await asyncio.wait_for(getting, 2) == "token-2" and fetch.count == 2
    finally:
        await second.db.dispose()


async def test_the_stand_in_enforces_the_budget_and_template_rules(
    services: Services, settings: Settings, wechat_api: APIServer
) -> None:
    """The stand-in refuses what WeChat refuses, so the channel's tests mean something."""
    api, standin = WeChatAPI(settings, token_store(services)), wechat_api.api
    shift = 0.0
    standin.clock = lambda: time.time() + shift
    try:
        standin.seen("oClick", kind="event")  # a menu click: 3 within a minute
        for n in range(3):
            await api.send_text("oClick", str(n))
        with pytest.raises(WeChatError) as caught:
            await api.send_text("oClick", "4th")
        assert caught.value.code == 45047
        shift = 61.0  # the minute is over, and the person never wrote: out of the window
        with pytest.raises(WeChatError) as caught:
            await api.send_text("oClick", "later")
        assert caught.value.code == 45015
        standin.seen("oMsg")  # a message: 5 within 48 hours
        for n in range(5):
            await api.send_text("oMsg", str(n))
        with pytest.raises(WeChatError) as caught:
            await api.send_text("oMsg", "6th")
        assert caught.value.code == 45047
        good = {"thing1": "探访", "time2": "2026年11月20日 12:00", "number3": "10", "phrase4": "已通过"}
        await api.send_template("oMsg", "TPL-HOURS", good)
        for wrong in (
            {"first": "您好"},
            {"remark": "谢谢"},
            {"thing1": "x" * 21},
            {"number3": "十"},
            {"phrase4": "六个字的状态"},
            {"time2": "yesterday"},
        ):
            with pytest.raises(WeChatError) as caught:
                await api.send_template("oMsg", "TPL-HOURS", {**good, **wrong})
            assert caught.value.code == 47003, wrong
        with pytest.raises(WeChatError) as caught:
            await api.send_template("oMsg", "TPL-NONE", good)
        assert caught.value.code == 40037
        assert [t["template_id"] for t in await api.private_templates()] == list(standin.templates)
    finally:
        await api.close()
