"""The desk's route tests' tools: a web app with the desk mounted (httpx's ASGI transport, no
lifespan), people talking to the bot to get their login links, and the links used."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.desk import setup
from handlers.web import Web
from tests.dialogs.chat import Chat

PUBLIC = "https://bank.example.org"
LINK = re.compile(re.escape(PUBLIC) + r"(/desk/login/[A-Za-z0-9_-]+)")


def client_for(services: Services) -> httpx.AsyncClient:
    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
    setup(web)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url=PUBLIC)


async def link_of(dialogs: Dialogs, handle: str, command: str = "/desk") -> str:
    """What `handle` gets for /desk or /my in the chat: the login link's path."""
    said = await Chat(dialogs, handle).say(command)
    found = LINK.search(said)
    assert found, said
    return found[1]


async def log_in(client: httpx.AsyncClient, dialogs: Dialogs, handle: str, command: str = "/desk") -> httpx.Response:
    """Open the link from the chat and press the button, as a person does; the client keeps the cookie."""
    path = await link_of(dialogs, handle, command)
    shown = await client.get(path)
    assert shown.status_code == 200 and f'action="{path}"' in shown.text
    return await client.post(path)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, page[:500]
    return found[1]


async def submit_logs(
    services: Services, clock: FixedClock, people: list[int], community_id: int, category: int
) -> list[int]:
    today = clock.community(services.settings.timezone).today()
    out = []
    for i, person in enumerate(people):
        view = await services.run(
            services.hours.submit,
            person,
            community_id,
            category_id=category,
            service_date=today - timedelta(days=1 + i),
            minutes=60,
        )
        out.append(view.id)
    return out
