"""A Bot API without a network, for the benchmarks and the Telegram tests: a python-telegram-bot
`BaseRequest` that records every call and answers as Telegram would, its refusals included
(python-telegram-bot's own tests do the same). The production Bot API client
(`handlers.telegram.webhook.make_bot`) runs on it unchanged, so everything above the HTTP
transport is what `lovebank serve` runs.

Refusals on request: `fail` (methods answered 400), `down` (every send answered 500/502, or no
answer: "timeout", "refused"), and `refuse(method, …)` (the next calls of one method, or of every
`send*` with "send", answered in turn: 429 with retry_after, 403 blocked, 400 message not
modified, a timeout…).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

BOT_ID = 4242
BOT_USERNAME = "lovebank_test_bot"
MESSAGES = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup")


@dataclass
class Call:
    """One Bot API call: its method, its parameters (files by part name) and what we answered
    (None when it was refused)."""

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


@dataclass(frozen=True)
class Refusal:
    """How Telegram refuses a call: a status with its description (and retry_after for a 429),
    or no answer at all ("timeout"; "refused": nothing listens)."""

    status: int = 0
    description: str = ""
    retry_after: int | None = None
    no_answer: str | None = None

    def answer(self) -> tuple[int, bytes]:
        if self.no_answer == "timeout":
            raise TimedOut("Timed out")
        if self.no_answer == "refused":  # what HTTPXRequest raises when nothing listens
            raise NetworkError("httpx.ConnectError: All connection attempts failed")
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.status, json.dumps(body).encode()


FLOOD = Refusal(429, "Too Many Requests: retry after 3", retry_after=3)
BLOCKED = Refusal(403, "Forbidden: bot was blocked by the user")
NOT_MODIFIED = Refusal(
    400,
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message",
)
TIMEOUT = Refusal(no_answer="timeout")
NO_CONNECTION = Refusal(no_answer="refused")


class RecordingRequest(BaseRequest):
    """Answers getMe, sendMessage, sendPhoto, sendDocument, editMessageText… like the Bot API."""

    def __init__(self, *, bot_id: int = BOT_ID, username: str = BOT_USERNAME, keep: bool = True) -> None:
        self.bot_id, self.username, self.keep = bot_id, username, keep
        self.calls: list[Call] = []
        self._message_ids = itertools.count(1)
        self.fail: set[str] = set()  # methods answered 400 Bad Request
        self.down: int | str | None = None  # every send* answered with this status, or "timeout"/"refused"
        self.refused = 0  # send* calls `down` or `refuse` answered
        self._next: dict[str, list[Refusal]] = defaultdict(list)

    def refuse(self, method: str, *answers: Refusal | tuple[int, str]) -> None:
        """The next calls of `method` ("send": of any send*) get these answers, one each."""
        self._next[method].extend(a if isinstance(a, Refusal) else Refusal(*a) for a in answers)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        files = list(request_data.multipart_data) if request_data and request_data.contains_files else []
        refusal = self._refusal(name)
        if refusal is not None:
            self._record(Call(name, dict(params), files))
            return refusal.answer()
        result = self.answer(name, params)
        self._record(Call(name, dict(params), files, result))
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _refusal(self, name: str) -> Refusal | None:
        sends = name.startswith("send")
        for key in (name, "send") if sends else (name,):
            if self._next.get(key):
                self.refused += 1
                return self._next[key].pop(0)
        if sends and self.down is not None:
            self.refused += 1
            if isinstance(self.down, str):
                return Refusal(no_answer=self.down)
            return Refusal(self.down, "Internal Server Error" if self.down == 500 else "Bad Gateway")
        if name in self.fail:
            return Refusal(400, "Bad Request: refused by test")
        return None

    def _record(self, call: Call) -> None:
        if self.keep:
            self.calls.append(call)

    @property
    def me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "爱心银行",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def answer(self, name: str, params: dict[str, Any]) -> Any:
        """The result Telegram would give for `name` called with `params`."""
        if name == "getMe":
            return self.me
        if name == "getUpdates":
            return []
        if name in MESSAGES:
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
            message["photo"] = [
                {"file_id": f"photo-{message['message_id']}", "file_unique_id": "p", "width": 1, "height": 1}
            ]
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
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and (chat_id is None or c.chat_id == str(chat_id))
        ]

    def taken(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        """The calls Telegram took (not refused)."""
        return [c for c in self.sent(method, chat_id) if c.result is not None]

    def clear(self) -> None:
        self.calls.clear()
