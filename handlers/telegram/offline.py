"""A Bot API without a network: it records every call and answers as Telegram would, so tests
and benchmarks can run a real `Application` (python-telegram-bot's own tests do the same)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_ID = 4242
BOT_USERNAME = "lovebank_test_bot"


@dataclass
class Call:
    """One Bot API call: its method, its parameters (files by part name) and what we answered."""

    method: str
    params: dict[str, Any]
    files: list[str] = field(default_factory=list, repr=False)
    result: Any = field(default=None, repr=False)

    @property
    def chat_id(self) -> str | None:
        chat = self.params.get("chat_id")
        return None if chat is None else str(chat)

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline keyboard buttons, in order."""
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


class RecordingRequest(BaseRequest):
    """Answers getMe, sendMessage, sendPhoto, sendDocument, editMessageText… like the Bot API."""

    def __init__(self, *, bot_id: int = BOT_ID, username: str = BOT_USERNAME, keep: bool = True) -> None:
        self.bot_id, self.username, self.keep = bot_id, username, keep
        self.calls: list[Call] = []
        self._message_ids = itertools.count(1)
        self.fail: set[str] = set()  # methods that answer with an error, to test failures

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        files = list(request_data.multipart_data) if request_data and request_data.contains_files else []
        if name in self.fail:
            self._record(Call(name, dict(params), files))
            return 400, json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: refused by test"}).encode()
        result = self.answer(name, params)
        self._record(Call(name, dict(params), files, result))
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _record(self, call: Call) -> None:
        if self.keep:
            self.calls.append(call)

    @property
    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "爱心银行", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def answer(self, name: str, params: dict[str, Any]) -> Any:
        """The result Telegram would give for `name` called with `params`."""
        if name == "getMe":
            return self.me
        if name == "getUpdates":
            return []
        if name in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"):
            return self._message(name, params)
        if name == "getMyCommands":
            return []
        return True

    def _message(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        message: dict[str, Any] = {
            "message_id": int(params["message_id"]) if "message_id" in params else next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": self.me,
        }
        if name in ("sendMessage", "editMessageText"):
            message["text"] = params.get("text", "")
        if name == "sendPhoto":
            message["photo"] = [{"file_id": f"photo-{message['message_id']}", "file_unique_id": "p", "width": 1, "height": 1}]
        if name == "sendDocument":
            message["document"] = {"file_id": f"doc-{message['message_id']}", "file_unique_id": "d"}
        if "caption" in params:
            message["caption"] = params["caption"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    # --- what tests look at --------------------------------------------------------------------

    def sent(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        return [c for c in self.calls if (method is None or c.method == method)
                and (chat_id is None or c.chat_id == str(chat_id))]

    def clear(self) -> None:
        self.calls.clear()
