"""Telegram people talking to the bot as `lovebank serve` runs it, over the recording Bot API:
each update is POSTed to the webhook (secret checked, committed to the inbox, 200), the inbox
worker runs its turn and sends the reply through the production Bot API client
(`handlers.telegram.webhook.make_bot`) onto `bench.botapi.RecordingRequest`; `deliver()` is one
round of the outbox worker. Only the HTTP transport under python-telegram-bot is a stand-in."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

import models
from bench.botapi import Call, RecordingRequest
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.inbound import TelegramChannel
from handlers.telegram.webhook import SECRET_HEADER, setup
from handlers.web import Web
from models import DialogState, Identity, Person

_ids = itertools.count(1)
SECRET = "test-webhook-secret"


def texts(calls: list[Call]) -> str:
    """What the person saw, as one string (messages, captions, edits, callback toasts)."""
    return "\n".join(c.text for c in calls if c.text)


class Telegram:
    """Feeds updates through the webhook and the inbox worker and returns the Bot API calls
    each one caused."""

    def __init__(self, web: Web, channel: TelegramChannel, api: RecordingRequest, client: httpx.AsyncClient) -> None:
        self.web, self.channel, self.api, self.client = web, channel, api, client
        self.services, self.pipeline = web.services, web.pipeline

    def next_id(self) -> int:
        return next(_ids)

    async def post(self, payload: dict[str, Any]) -> None:
        """Telegram POSTs the update to the webhook; it is in the inbox once this returns."""
        response = await self.client.post("/telegram", json=payload, headers={SECRET_HEADER: SECRET})
        assert response.status_code == 200, (response.status_code, response.text)

    async def feed(self, payload: dict[str, Any]) -> list[Call]:
        start = len(self.api.calls)
        await self.post(payload)
        await self.pipeline.inbox.drain()
        return self.api.calls[start:]

    async def drain(self) -> list[Call]:
        """The inbox worker handles what is due now (a retry, a parked entry released)."""
        start = len(self.api.calls)
        await self.pipeline.inbox.drain()
        return self.api.calls[start:]

    async def deliver(self) -> int:
        """One round of the outbox worker: what is due goes out. How many messages Telegram took."""
        start = len(self.api.calls)
        await self.pipeline.outbox.round()
        return len([c for c in self.api.calls[start:] if c.method.startswith("send") and c.result is not None])

    def user(self, user_id: int, first_name: str, username: str | None = None, language: str = "zh-hans") -> TgUser:
        return TgUser(self, user_id, first_name, username, language)


def served(settings: Settings) -> Settings:
    """The settings the served bot runs with: the webhook's secret, and Telegram's flood limit
    (LOVEBANK_TELEGRAM_MAX_RATE) off, which would only slow the tests down."""
    return settings.model_copy(update={"webhook_secret": SecretStr(SECRET), "telegram_max_rate": 0})


@asynccontextmanager
async def running(
    services: Services, settings: Settings, api: RecordingRequest | None = None
) -> AsyncIterator[Telegram]:
    """The web app and workers of `lovebank serve` with Telegram on `api`, started as the process
    starts them (getMe, the menus, the channel joining the workers); the workers run when the
    test drains them, so each update's effects are known when `feed` returns."""
    api = api if api is not None else RecordingRequest()
    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
    channel = setup(web, served(settings), api)
    await web.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url="http://bot") as client:
            yield Telegram(web, channel, api, client)
    finally:
        await web.shutdown(dispose=False)  # the test's database fixture owns the database


@dataclass
class TgUser:
    tg: Telegram
    id: int
    first_name: str
    username: str | None = None
    language: str = "zh-hans"  # what the Telegram client reports

    @property
    def json(self) -> dict[str, Any]:
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": self.language}
        if self.username:
            user["username"] = self.username
        return user

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}

    def message_update(self, chat: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        update_id = self.tg.next_id()
        message = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": chat or self.chat,
            "from": self.json,
            **fields,
        }
        text = fields.get("text", "")
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": update_id, "message": message}

    async def send(self, text: str, chat: dict[str, Any] | None = None) -> list[Call]:
        return await self.tg.feed(self.message_update(chat, text=text))

    async def share_contact(self, phone: str, *, owner: int | None = None) -> list[Call]:
        contact = {"phone_number": phone, "first_name": self.first_name, "user_id": owner or self.id}
        return await self.tg.feed(self.message_update(contact=contact))

    async def send_photo(self, file_id: str, caption: str = "") -> list[Call]:
        photo = [
            {"file_id": file_id + "-small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": "b", "width": 800, "height": 800},
        ]
        return await self.tg.feed(self.message_update(photo=photo, caption=caption))

    def keyboard_message(self, choice: str) -> Call:
        """The newest message in this chat with a button whose data is `choice` or whose label
        starts with it."""
        for call in reversed(self.tg.api.sent(chat_id=self.id)):
            for button in call.buttons:
                if button.get("callback_data") == choice:
                    return call
        for call in reversed(self.tg.api.sent(chat_id=self.id)):
            for button in call.buttons:
                if button.get("text", "").startswith(choice):
                    return call
        raise AssertionError(f"no button {choice!r} in chat {self.id}")

    def button_data(self, choice: str) -> str:
        call = self.keyboard_message(choice)
        for button in call.buttons:
            if button.get("callback_data") == choice:
                return choice
        return next(b["callback_data"] for b in call.buttons if b.get("text", "").startswith(choice))

    def press_update(self, data: str, message: dict[str, Any] | None) -> dict[str, Any]:
        update_id = self.tg.next_id()
        query: dict[str, Any] = {"id": str(update_id), "from": self.json, "chat_instance": f"ci{self.id}", "data": data}
        if message is not None:
            query["message"] = message
        return {"update_id": update_id, "callback_query": query}

    async def press(self, choice: str) -> list[Call]:
        """Press a button on the newest message offering it, as the Telegram client would."""
        call = self.keyboard_message(choice)
        return await self.tg.feed(self.press_update(self.button_data(choice), call.result))

    async def press_raw(self, data: str, message: dict[str, Any] | None) -> list[Call]:
        return await self.tg.feed(self.press_update(data, message))


# --- a community set up through the bot -----------------------------------------------------


@dataclass
class Cast:
    admin: TgUser
    worker: TgUser
    volunteer: TgUser
    code: str


async def found_community(tg: Telegram, admin_id: int, name: str = "阳光社区") -> Cast:
    """An admin (from LOVEBANK_ADMINS) creates the community and appoints a worker, the worker
    invites, and a newcomer joins by the deep link and registers with a shared contact."""
    admin = tg.user(admin_id, "陈主任", "chen_admin")
    assert name in texts(await admin.send(f"/newcommunity {name}"))
    worker = tg.user(2002, "张丽", "zhangli")
    await worker.send("/start")
    assert "张丽" in texts(await admin.send("/appoint @zhangli"))
    out = texts(await worker.send("/invite"))
    match = re.search(r"https://t\.me/lovebank_test_bot\?start=(\w+)", out)
    assert match, out
    volunteer = tg.user(3003, "王芳", "wangfang")
    await volunteer.send(f"/start {match[1]}")
    await volunteer.send("王芳")
    assert "登记成功" in texts(await volunteer.share_contact("+8613800000001"))
    return Cast(admin, worker, volunteer, match[1])


def log_ids(calls: list[Call]) -> list[int]:
    return [int(i) for i in re.findall(r"H(\d+)", texts(calls))]


# --- what the database holds ----------------------------------------------------------------


async def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the dialog state and the inbox (every update is stored there,
    whatever it asks): equal snapshots mean nothing changed."""
    out = {}
    with services.db.uow() as session:
        for table in models.Base.metadata.sorted_tables:
            if table.name not in ("dialog_states", models.InboxEntry.__tablename__):
                rows = (session.execute(select(table))).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def dialog_state(services: Services, user: TgUser) -> tuple[str, str] | None:
    with services.db.uow() as session:
        row = (
            session.execute(
                select(DialogState.flow, DialogState.step)
                .join(Identity, Identity.id == DialogState.identity_id)
                .where(Identity.channel == "telegram", Identity.external_id == str(user.id))
            )
        ).first()
    return None if row is None or not row.flow else (row.flow, row.step)  # None: in no flow


async def person_of(services: Services, user: TgUser) -> int:
    with services.db.uow() as session:
        person_id = session.scalar(
            select(Identity.person_id).where(Identity.channel == "telegram", Identity.external_id == str(user.id))
        )
    assert person_id is not None
    return person_id


async def available(services: Services, user: TgUser) -> int:
    person_id = await person_of(services, user)
    with services.db.uow() as session:
        community_id = session.scalar(select(Person.community_id).where(Person.id == person_id))
    return (await services.run(services.points.balance, person_id, community_id)).available
