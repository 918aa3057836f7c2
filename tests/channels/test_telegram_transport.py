"""The workers' Bot API transport (handlers/telegram/transport.py) against a local Bot API server
(tests/e2e/standin.py) over real sockets: replies and uploads arrive as Telegram reads them, and
Telegram's answers keep python-telegram-bot's meaning (429 → Retry(retry_after), 403 →
Unreachable, 400 → Failed, 5xx, timeouts and no connection → Down); a kept-alive connection the
server closed is replaced without a word, and chunked answers are read."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.kernel.settings import Settings
from bot.messages.delivery import Down, Failed, Retry, Sent, Unreachable
from bot.services import Services
from handlers.telegram.inbound import StatusRequest, TelegramChannel
from handlers.telegram.transport import StreamRequest
from handlers.telegram.webhook import make_bot
from tests.e2e.standin import (
    BLOCKED,
    BROKEN,
    TOKEN,
    TOO_MANY,
    BotAPI,
    Fault,
    serve,
    timeout,
)

pytestmark = pytest.mark.db


@pytest.fixture
def standin() -> Iterator[tuple[BotAPI, str]]:
    api = BotAPI()
    server = serve(api)
    yield api, f"http://127.0.0.1:{server.server_address[1]}/bot"
    server.shutdown()
    server.server_close()


def on(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"telegram_api_url": url, "telegram_max_rate": 0})  # its token is TOKEN


@pytest.fixture
async def channel(
    tg_services: Services, tg_settings: Settings, standin: tuple[BotAPI, str]
) -> AsyncIterator[TelegramChannel]:
    bot = make_bot(on(tg_settings, standin[1]))  # the workers' client as the process builds it
    await bot.initialize()
    yield TelegramChannel(tg_services, bot)
    await bot.shutdown()


def message(chat: int, text: str, **extra: Any) -> dict[str, Any]:
    return {"method": "sendMessage", "params": {"chat_id": chat, "text": text, **extra}}


async def test_replies_and_uploads_arrive_as_telegram_reads_them(
    channel: TelegramChannel, standin: tuple[BotAPI, str]
) -> None:
    api, _ = standin
    assert isinstance(channel.bot.request, StatusRequest) and isinstance(channel.bot.request.inner, StreamRequest)
    keyboard = {"inline_keyboard": [[{"text": "✅ 通过", "callback_data": "/approve H1"}]]}
    document = {
        "method": "sendDocument",
        "params": {"chat_id": 5, "caption": "报表"},
        "file": {"field": "document", "filename": "report.csv", "b64": base64.b64encode(b"a,b\n").decode()},
    }
    reply = {"calls": [message(5, "可用积分：30"), message(5, "待审核", reply_markup=keyboard), document]}
    assert await channel.send_reply(reply, 0) == Sent(3)
    text, buttons = api.delivered()
    assert text.text == "可用积分：30" and str(text.params["chat_id"]) == "5"
    assert buttons.params["reply_markup"] == keyboard
    [upload] = api.delivered("sendDocument")
    assert upload.params["document"] == b"a,b\n" and upload.params["caption"] == "报表"


async def test_telegrams_refusals_keep_their_meaning(channel: TelegramChannel, standin: tuple[BotAPI, str]) -> None:
    api, _ = standin
    api.faults["6"] = [TOO_MANY, BLOCKED, Fault(400, "Bad Request: message is too long"), BROKEN]
    outcomes = [await channel.send_reply({"calls": [message(6, "你好")]}, 0) for _ in range(5)]
    assert outcomes[0] == Retry(1.0) and isinstance(outcomes[1], Unreachable)
    assert isinstance(outcomes[2], Failed) and outcomes[2].final and isinstance(outcomes[3], Down)
    assert outcomes[4] == Sent(1)  # and the connection still serves


async def test_a_timeout_and_no_connection_are_telegram_down(
    tg_services: Services, tg_settings: Settings, standin: tuple[BotAPI, str]
) -> None:
    api, url = standin
    api.faults["7"] = [timeout(1.0)]
    bot = make_bot(on(tg_settings, url), StreamRequest(read_timeout=0.2))
    await bot.initialize()
    try:
        slow = await TelegramChannel(tg_services, bot).send_reply({"calls": [message(7, "你好")]}, 0)
    finally:
        await bot.shutdown()
    assert isinstance(slow, Down) and "Timed out" in slow.reason

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    bot = make_bot(on(tg_settings, f"http://127.0.0.1:{closed}/bot"))
    try:
        gone = await TelegramChannel(tg_services, bot).send_reply({"calls": [message(7, "你好")]}, 0)
    finally:
        await bot.shutdown()
    assert isinstance(gone, Down) and gone.reason.startswith("transport: ")


async def test_a_closed_kept_alive_connection_is_replaced_and_chunked_answers_read() -> None:
    """A server that answers one request a connection, chunked, and then hangs up."""
    served = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        served += 1
        body = b'{"ok": true, "result": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = StreamRequest()
    try:
        for _ in range(3):
            status, payload = await transport.do_request(
                f"http://127.0.0.1:{port}/bot{TOKEN}/answerCallbackQuery", "POST"
            )
            assert (status, payload) == (200, b'{"ok": true, "result": true}')
            await asyncio.sleep(0.05)  # the server's close reaches us
    finally:
        await transport.shutdown()
        server.close()
        await server.wait_closed()
    assert served == 3
