"""A local stand-in for the Bot API that behaves like Telegram: updates handed out by getUpdates
with offsets (and handed out again until a higher offset confirms them), everything the bot sends
recorded and answered as Telegram would, and Telegram's failures on request (429 with
retry_after, 403, 500, timeouts)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bench.botapi import RecordingRequest

TOKEN = "123:abc"
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds any one step may take before the test gives up


@dataclass
class Sent:
    method: str
    params: dict[str, Any]
    result: Any
    status: int = 200  # what the stand-in answered: 200, or the fault it played
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id"))

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass(frozen=True)
class Fault:
    """An answer Telegram gives when things go wrong: 429 with retry_after, 403, 500, or a
    timeout (no answer for `delay` seconds)."""

    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0

    @property
    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


TOO_MANY = Fault(429, "Too Many Requests: retry after 1", retry_after=1)
BLOCKED = Fault(403, "Forbidden: bot was blocked by the user")
BROKEN = Fault(500, "Internal Server Error")


def timeout(seconds: float) -> Fault:
    return Fault(504, "Gateway Timeout", delay=seconds)


class Refused(Exception):
    def __init__(self, fault: Fault) -> None:
        self.fault = fault


class BotAPI:
    """The Bot API as a `lovebank run` process sees it: updates handed out by getUpdates with
    offsets, everything the bot sends recorded and answered like Telegram would."""

    def __init__(self) -> None:
        self.answers = RecordingRequest(keep=False)
        self.changed = threading.Condition()
        self.updates: list[dict[str, Any]] = []
        self.calls: list[Sent] = []
        self.next_update_id = 1
        self.confirmed = 0  # the highest offset the bot asked for: updates below it are done
        # chat id → faults played, one per message sent to that chat, before it answers normally;
        # a chat in `blocked` refuses every message (403).
        self.faults: dict[str, list[Fault]] = {}
        self.blocked: set[str] = set()
        # Called (on its own thread, `after_batch_delay` seconds on) when getUpdates hands out a
        # batch: the crash tests kill the bot right after it fetched.
        self.after_batch: Callable[[list[dict[str, Any]]], None] | None = None
        self.after_batch_delay = 0.0

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return self._get_updates(params)
        chat = str(params.get("chat_id"))
        with self.changed:
            fault = BLOCKED if chat in self.blocked and method.startswith("send") else None
            if fault is None and method.startswith("send") and self.faults.get(chat):
                fault = self.faults[chat].pop(0)
            if fault is not None:
                self.calls.append(Sent(method, params, None, fault.status))
                self.changed.notify_all()
                raise Refused(fault)
        result = self.answers.answer(method, params)
        with self.changed:
            self.calls.append(Sent(method, params, result))
            self.changed.notify_all()
        return result

    def delivered(self, method: str = "sendMessage") -> list[Sent]:
        with self.changed:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
        with self.changed:
            self.confirmed = max(self.confirmed, offset)
            self.calls.append(Sent("getUpdates", params, None))
            self.changed.notify_all()
            while True:
                due = [u for u in self.updates if u["update_id"] >= offset][:limit]
                left = deadline - time.monotonic()
                if due and self.after_batch is not None:
                    hook, self.after_batch = self.after_batch, None
                    threading.Timer(self.after_batch_delay, hook, args=(due,)).start()
                if due or left <= 0:
                    return due
                self.changed.wait(left)

    # --- the test's side --------------------------------------------------------------------

    def push(self, kind: str, body: dict[str, Any]) -> int:
        with self.changed:
            update_id = self.next_update_id
            self.next_update_id += 1
            self.updates.append({"update_id": update_id, kind: body})
            self.changed.notify_all()
        return update_id

    def mark(self) -> int:
        with self.changed:
            return len(self.calls)

    def wait_for(self, since: int, test: Callable[[Sent], bool], what: str) -> Sent:
        deadline = time.monotonic() + WAIT
        with self.changed:
            while True:
                for call in self.calls[since:]:
                    if test(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.text[:60]) for c in self.calls[since:] if c.method != "getUpdates"]
                    raise AssertionError(f"timed out waiting for {what}; saw {seen}")
                self.changed.wait(left)


def serve(api: BotAPI, port: int = 0) -> ThreadingHTTPServer:
    """On 127.0.0.1:`port` (0: any free port); `port` again after a shutdown: Telegram is back."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            prefix = f"/bot{TOKEN}/"
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith(prefix):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("multipart/form-data"):  # a photo or document upload
                params = _multipart(raw, kind)
            elif kind.startswith("application/json") and raw:
                params = json.loads(raw)
            else:
                params = {k: _decode(v[0]) for k, v in parse_qs(raw.decode()).items()}
            try:
                result = api.handle(self.path[len(prefix) :], params)
            except Refused as refused:
                time.sleep(refused.fault.delay)
                self._reply(refused.fault.status, refused.fault.payload)
                return
            self._reply(200, {"ok": True, "result": result})

        do_GET = do_POST

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):  # the bot gave up a long poll while stopping
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a bot process killed mid-request (the crash tests) is not the stand-in's error

    Server.allow_reuse_address = True
    server = Server(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _multipart(raw: bytes, kind: str) -> dict[str, Any]:
    """The form's text fields as PTB sends them; an uploaded file as its bytes."""
    message = BytesParser(policy=default).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        params[name] = payload if part.get_filename() else _decode(payload.decode())
    return params


def _decode(value: str) -> Any:
    """PTB sends each parameter JSON-encoded, strings as they are."""
    if value[:1] in "[{":
        return json.loads(value)
    return value


class Person:
    def __init__(self, api: BotAPI, user_id: int, first_name: str, username: str | None = None) -> None:
        self.api, self.id = api, user_id
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            self.user["username"] = username

    def _message(self, **fields: Any) -> int:
        body = {
            "message_id": self.api.next_update_id,
            "date": int(time.time()),
            "chat": {"id": self.id, "type": "private"},
            "from": self.user,
            **fields,
        }
        text = fields.get("text", "")
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self.api.push("message", body)

    def say(self, text: str, expect: str) -> Sent:
        since = self.api.mark()
        self._message(text=text)
        return self.hears(since, expect)

    def share_contact(self, phone: str, expect: str) -> Sent:
        since = self.api.mark()
        self._message(contact={"phone_number": phone, "first_name": self.user["first_name"], "user_id": self.id})
        return self.hears(since, expect)

    def press(self, message: Sent, data: str, expect: str) -> Sent:
        since = self.api.mark()
        update_id = self.api.push(
            "callback_query",
            {
                "id": f"q{self.api.next_update_id}",
                "from": self.user,
                "chat_instance": f"ci{self.id}",
                "data": data,
                "message": message.result,
            },
        )
        self.api.wait_for(since, lambda c: c.method == "answerCallbackQuery", f"the answer to press {update_id}")
        return self.hears(since, expect)

    def hears(self, since: int, expect: str) -> Sent:
        return self.api.wait_for(
            since,
            lambda c: (
                c.method == "sendMessage"
                and str(c.params.get("chat_id")) == str(self.id)
                and re.search(expect, c.text) is not None
            ),
            f"{expect!r} to {self.id}",
        )
