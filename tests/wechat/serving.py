"""The WeChat webhook and channel in one process on the real ASGI app (inbox and outbox workers
running), reached through httpx as WeChat's server would; shared by the webhook tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.downloads import setup as setup_downloads
from handlers.web import Web
from handlers.wechat.channel import WeChatChannel
from handlers.wechat.webhook import setup as setup_wechat
from tests.wechat.standin import Answer, APIServer, WeChatServer
from tests.world import World


@dataclass
class Served:
    client: httpx.AsyncClient
    wechat: WeChatServer
    channel: WeChatChannel
    services: Services
    api: APIServer

    async def post(self, fields: dict[str, Any], **options: Any) -> Answer:
        query, body = self.wechat.request(fields, **options)
        return await self.send(query, body)

    async def send(self, query: dict[str, str], body: bytes | Any) -> Answer:
        response = await self.client.post(f"/wechat?{urlencode(query)}", content=body)
        return Answer(response.status_code, response.text, 0.0)

    async def say(self, openid: str, text: str, **options: Any) -> str:
        _, fields = self.wechat.text(openid, text, **options)
        answer = await self.post(fields)
        assert answer.status == 200, answer.body
        return answer.message(self.wechat.crypto).get("Content", "")

    async def reply(self, openid: str, text: str) -> str:
        """The answer as the product promises it: the passive reply when the turn fits WeChat's
        window, else (a busy machine) the customer-service message that follows by the API."""
        earlier = {id(s) for s in self.api.api.sent}
        passive = await self.say(openid, text)
        if passive:
            return passive
        [sent, *_] = await self.api.api.until(
            lambda s: id(s) not in earlier and s.kind == "text" and s.openid == openid, timeout=20
        )
        return sent.content


@asynccontextmanager
async def serving(
    services: Services, settings: Settings, wechat_api: APIServer, *, aes_key: str | None = None
) -> AsyncIterator[Served]:
    """`aes_key`: the key WeChat's side encrypts with (default: the configured one)."""
    pipeline = Pipeline(services, {}, concurrency=4, lease=30.0)
    web = Web(services, pipeline)
    channel = setup_wechat(web, settings)
    setup_downloads(web)
    pipeline.outbox.poll = 0.1
    pipeline.start()
    key = aes_key or (settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None)
    transport = httpx.ASGITransport(app=web.app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bank.test") as client:
            yield Served(
                client, WeChatServer("http://bank.test", wechat_api.api, aes_key=key), channel, services, wechat_api
            )
    finally:
        await pipeline.stop()
        await channel.api.close()


async def count(services: Services, model: Any, *where: Any) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def wechat_worker(served: Served, world: World, openid: str = "oWorker") -> None:
    """worker1 links a WeChat account (the /link of one person across channels)."""
    made = await served.services.run(served.services.links.new_code, world.worker, "console")
    assert "关联成功" in await served.reply(openid, f"/link {made.code}")
