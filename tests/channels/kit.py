"""Telegram people talking to a real Application over the recording Bot API."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from telegram import Update
from telegram.ext import Application

import models
from bot.services import Services
from handlers.telegram.offline import Call, RecordingRequest
from models import DialogState, Identity, Person

_ids = itertools.count(1)


def texts(calls: list[Call]) -> str:
    """What the person saw, as one string (messages, captions, edits, callback toasts)."""
    return "\n".join(c.text for c in calls if c.text)


class Telegram:
    """Feeds updates to the application and returns the Bot API calls each one caused."""

    def __init__(self, app: Application, api: RecordingRequest) -> None:
        self.app, self.api = app, api

    def next_id(self) -> int:
        return next(_ids)

    async def feed(self, payload: dict[str, Any]) -> list[Call]:
        start = len(self.api.calls)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return self.api.calls[start:]

    def user(self, user_id: int, first_name: str, username: str | None = None) -> TgUser:
        return TgUser(self, user_id, first_name, username)


@dataclass
class TgUser:
    tg: Telegram
    id: int
    first_name: str
    username: str | None = None

    @property
    def json(self) -> dict[str, Any]:
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": "zh-hans"}
        if self.username:
            user["username"] = self.username
        return user

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}

    def message_update(self, chat: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        update_id = self.tg.next_id()
        message = {"message_id": update_id, "date": int(time.time()), "chat": chat or self.chat, "from": self.json,
                   **fields}
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
        photo = [{"file_id": file_id + "-small", "file_unique_id": "s", "width": 90, "height": 90},
                 {"file_id": file_id, "file_unique_id": "b", "width": 800, "height": 800}]
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
    """Every row of every table but the dialog state: equal snapshots mean nothing changed."""
    out = {}
    with services.db.uow() as session:
        for table in models.Base.metadata.sorted_tables:
            if table.name != "dialog_states":
                rows = (session.execute(select(table))).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def dialog_state(services: Services, user: TgUser) -> tuple[str, str] | None:
    with services.db.uow() as session:
        row = (session.execute(
            select(DialogState.flow, DialogState.step).join(Identity, Identity.id == DialogState.identity_id)
            .where(Identity.channel == "telegram", Identity.external_id == str(user.id))
        )).first()
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
