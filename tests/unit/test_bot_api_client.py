"""The Bot API client as `lovebank serve` and `lovebank run` build it, against a local HTTP server:
a request must not go through the import system. Without sniffio installed, httpcore asks which
event loop runs with a failed `import sniffio`, which searches sys.path again several times on
every request; that took 13% of a serve process."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from handlers.telegram.replies import send_call

OK = json.dumps({"ok": True, "result": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}}}).encode()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(OK), OK)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


class Lookups:
    """A meta path finder that only records what is looked up."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, *_: Any) -> None:
        self.names.append(name)


async def test_a_bot_api_request_looks_nothing_up_in_the_import_system() -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bot = ExtBot("123:abc", base_url=f"http://127.0.0.1:{port}/bot", request=HTTPXRequest(connection_pool_size=8))
    call = {"method": "sendMessage", "params": {"chat_id": 5, "text": "可用积分：30"}}
    lookups = Lookups()
    try:
        await send_call(bot, call)  # the first request may import what it needs, once
        sys.meta_path.insert(0, lookups)
        try:
            for _ in range(3):
                assert await send_call(bot, call) == json.loads(OK)["result"]
        finally:
            sys.meta_path.remove(lookups)
    finally:
        await bot.shutdown()
        server.close()
        await server.wait_closed()
    assert lookups.names == []
