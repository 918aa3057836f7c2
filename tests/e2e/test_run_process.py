"""End to end: the real `lovebank run` process, long polling a local stand-in for the Bot API
(LOVEBANK_TELEGRAM_API_URL), plays the journey over HTTP: create a community, appoint a worker,
join by deep link, register with the contact button, log hours by buttons and by one line, get
approved by a button press, see the balance; then stops cleanly on SIGINT."""

from __future__ import annotations

import json
from contextlib import suppress
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from handlers.telegram.offline import RecordingRequest

pytestmark = pytest.mark.slow

TOKEN = "123:abc"
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds any one step may take before the test gives up


@dataclass
class Sent:
    method: str
    params: dict[str, Any]
    result: Any

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


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

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates":
            return self._get_updates(params)
        result = self.answers.answer(method, params)
        with self.changed:
            self.calls.append(Sent(method, params, result))
            self.changed.notify_all()
        return result

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


def serve(api: BotAPI) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            prefix = f"/bot{TOKEN}/"
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if not self.path.startswith(prefix):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            params = {k: _decode(v[0]) for k, v in parse_qs(body).items()}
            self._reply(200, {"ok": True, "result": api.handle(self.path[len(prefix):], params)})

        do_GET = do_POST  # noqa: N815

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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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
        body = {"message_id": self.api.next_update_id, "date": int(time.time()),
                "chat": {"id": self.id, "type": "private"}, "from": self.user, **fields}
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
        update_id = self.api.push("callback_query", {
            "id": f"q{self.api.next_update_id}", "from": self.user, "chat_instance": f"ci{self.id}",
            "data": data, "message": message.result,
        })
        self.api.wait_for(since, lambda c: c.method == "answerCallbackQuery", f"the answer to press {update_id}")
        return self.hears(since, expect)

    def hears(self, since: int, expect: str) -> Sent:
        return self.api.wait_for(
            since, lambda c: c.method == "sendMessage" and str(c.params.get("chat_id")) == str(self.id)
            and re.search(expect, c.text) is not None, f"{expect!r} to {self.id}",
        )


@pytest.fixture
def bot_api() -> Any:
    api = BotAPI()
    server = serve(api)
    yield api, server.server_address[1]
    server.shutdown()
    server.server_close()


def start_bot(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
        "LOVEBANK_TELEGRAM_API_URL": f"http://127.0.0.1:{port}/bot",
        "LOVEBANK_TELEGRAM_TOKEN": TOKEN,
        "LOVEBANK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}",
        "LOVEBANK_ADMINS": "telegram:1001",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "bot.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def test_lovebank_run_plays_the_journey_over_http(bot_api: Any, tmp_path: Path) -> None:
    api, port = bot_api
    process = start_bot(tmp_path, port)
    try:
        api.wait_for(0, lambda c: c.method == "getUpdates", "long polling to start")
        methods = {c.method for c in api.calls}
        assert {"getMe", "deleteWebhook", "setMyCommands"} <= methods

        admin = Person(api, 1001, "陈主任", "chen_admin")
        worker = Person(api, 2002, "张丽", "zhangli")
        volunteer = Person(api, 3003, "王芳", "wangfang")

        admin.say("/newcommunity 阳光社区", "已创建社区")
        worker.say("/start", "爱心银行")
        admin.say("/appoint @zhangli", "已任命 张丽")
        invite = worker.say("/invite", r"https://t\.me/lovebank_test_bot\?start=\w+")
        code = re.search(r"start=(\w+)", invite.text)[1]  # type: ignore[index]

        volunteer.say(f"/start {code}", "真实姓名")
        ask_phone = volunteer.say("王芳", "手机号")
        assert ask_phone.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        volunteer.share_contact("+8613800000001", "登记成功")

        # By buttons: category → today → 1 hour → skip → submit.
        ask = volunteer.say("/log", "服务类别")
        step = volunteer.press(ask, ask.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "哪天")
        step = volunteer.press(step, "today", "多长时间")
        step = volunteer.press(step, "60", "备注")
        step = volunteer.press(step, "skip", "请确认")
        by_buttons = volunteer.press(step, "yes", r"已提交服务记录 H\d+")
        # And by one line.
        one_line = volunteer.say("/log 2h 助餐 陪王奶奶吃饭", r"已提交服务记录 H\d+")
        ids = [re.search(r"H(\d+)", s.text)[1] for s in (by_buttons, one_line)]  # type: ignore[index]

        # The pump tells the worker (once for both logs); the worker approves both by buttons.
        worker.hears(0, "等待审核")
        since = api.mark()
        worker.say("/pending", f"H{ids[1]}")
        page = worker.hears(since, "共 2 项")
        worker.press(page, "/approve all", "已通过 2 条记录，共发放 30 积分")

        volunteer.hears(0, f"H{ids[1]}（助餐，2 小时）已通过")
        volunteer.say("/balance", "可用积分：30")
        assert sum(1 for c in api.calls if c.method == "sendMessage" and "等待审核" in c.text
                   and str(c.params["chat_id"]) == "2002") == 1
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)
            raise
        log = (tmp_path / "bot.log").read_text(errors="replace")
    assert code == 0, log
    assert TOKEN not in log  # the token never reaches the log
    assert "Traceback" not in log, log
    # Everything handed out was confirmed on the way out, so a restart would not replay it.
    assert api.confirmed == api.next_update_id
