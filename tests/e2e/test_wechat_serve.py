"""End to end: the real `lovebank serve` process with WeChat (safe mode) and Telegram, against
local stand-ins for WeChat's server and API and for the Bot API. The whole journey: URL
verification; a bad signature refused with nothing stored; a worker on Telegram links WeChat
(/link); the QR invite → join → register → log hours by tapping numbered links → the worker on
WeChat is told and approves → the volunteer sees the balance; a worker on Telegram approves and
the volunteer hears it on WeChat; redeem and the pickup code; the report link downloads the XLSX;
a retried MsgId has one effect and the same reply; outside the 48-hour window the template
message; `lovebank wechat menu` in a second process shares the access token (one fetch), which is
refreshed after a 40001."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import ADMIN, SECRET, Process, start
from tests.e2e.standin import ROOT, WAIT, BotAPI, Sent
from tests.e2e.standin import TOKEN as TELEGRAM_TOKEN
from tests.wechat.standin import AES_KEY, APP_ID, APP_SECRET, TOKEN, APIServer, WeChatServer

pytestmark = pytest.mark.slow

# Rejected hours go by template outside the 48-hour window (the stand-in's TPL-REVIEW).
TEMPLATES = (
    '[hours_rejected]\ntemplate_id = "TPL-REVIEW"\n'
    'fields = { character_string1 = "log", thing2 = "category", phrase3 = "status", thing4 = "reason" }\n'
)
PUBLIC = "https://bank.example.org"
LINK = re.compile(r'<a href="weixin://bizmsgmenu\?msgmenucontent=([^&]*)&msgmenuid=(\d+)">')


def start_serve(tmp_path: Path, telegram_port: int, wechat_url: str) -> Process:
    (tmp_path / "templates.toml").write_text(TEMPLATES)
    return start(
        "serve",
        tmp_path,
        "serve",
        telegram_port,
        f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}",
        wechat_token=TOKEN,
        wechat_aes_key=AES_KEY,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_url=wechat_url,
        wechat_templates=str(tmp_path / "templates.toml"),
        public_url=PUBLIC,
    )


def menu_env(tmp_path: Path, wechat_url: str) -> dict[str, str]:
    """`lovebank wechat menu` on the same database and account, as an operator runs it."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
        "LOVEBANK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}",
        "LOVEBANK_WECHAT_APP_ID": APP_ID,
        "LOVEBANK_WECHAT_APP_SECRET": APP_SECRET,
        "LOVEBANK_WECHAT_API_URL": wechat_url,
        "PYTHONPATH": str(ROOT),
    }


class WeChatPerson:
    """Someone on WeChat: what they send, the passive answers and what the API pushed to them."""

    def __init__(self, server: WeChatServer, api: APIServer, openid: str) -> None:
        self.server, self.api, self.openid = server, api, openid
        self.last = ""

    def send(self, fields: dict[str, Any]) -> str:
        since = len(self.api.api.sent)
        answer = self.server.post(fields)
        assert answer.status == 200, answer.body
        passive = answer.message(self.server.crypto).get("Content", "")
        self.last = passive
        deadline = time.monotonic() + WAIT
        while not passive and not self.pushed(since):  # past the passive window (a busy machine): by the API
            assert time.monotonic() < deadline, "no reply, passive or by the API"
            time.sleep(0.05)
        return passive + "".join("\n" + s.content for s in self.pushed(since, settle=0.3))

    def say(self, text: str, menu_id: str | None = None) -> str:
        return self.send(self.server.text(self.openid, text, menu_id=menu_id)[1])

    def tap(self, text: str, label: str) -> str:
        """Tap the numbered link whose label contains `label` in `text`."""
        for content, number in LINK.findall(text):
            if label in content:
                return self.say(content, menu_id=number)
        raise AssertionError(f"no link {label!r} in {text!r}")

    def pushed(self, since: int, settle: float = 0.0) -> list[Any]:
        time.sleep(settle)
        return [s for s in self.api.api.sent[since:] if s.openid == self.openid and s.kind == "text"]

    def hears(self, pattern: str, kind: str = "text") -> Any:
        return self.api.api.wait_for(
            lambda s: s.openid == self.openid and s.kind == kind and re.search(pattern, s.content) is not None,
            timeout=WAIT,
        )[0]


class TelegramPerson:
    def __init__(self, api: BotAPI, url: str, user_id: int, first_name: str, username: str) -> None:
        self.api, self.url, self.id = api, url, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "username": username}
        self.next = user_id * 1000

    def say(self, text: str, expect: str) -> Sent:
        since = self.api.mark()
        self.next += 1
        message = {
            "message_id": self.next,
            "date": int(time.time()),
            "chat": {"id": self.id, "type": "private"},
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        request = urllib.request.Request(
            f"{self.url}/telegram",
            data=json.dumps({"update_id": self.next, "message": message}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        return self.api.wait_for(
            since,
            lambda c: (
                c.method == "sendMessage"
                and str(c.params.get("chat_id")) == str(self.id)
                and re.search(expect, c.text) is not None
            ),
            f"{expect!r} to {self.id}",
        )


def inbox_rows(tmp_path: Path, platform_id: str | None = None) -> int:
    with sqlite3.connect(tmp_path / "lovebank.db") as db:
        if platform_id is None:
            return db.execute("SELECT count(*) FROM inbox WHERE channel = 'wechat'").fetchone()[0]
        return db.execute("SELECT count(*) FROM inbox WHERE platform_id = ?", (platform_id,)).fetchone()[0]


def test_wechat_journey_against_lovebank_serve(bot_api: Any, tmp_path: Path) -> None:
    telegram, telegram_port = bot_api
    with APIServer() as wechat_api:
        process = start_serve(tmp_path, telegram_port, wechat_api.url)
        try:
            journey(tmp_path, process, wechat_api, telegram)
        finally:
            code = process.stop()
        text = process.log()
        assert code == 0, text
        assert "Traceback" not in text, text
        for secret in (APP_SECRET, AES_KEY, TELEGRAM_TOKEN, SECRET, *wechat_api.api.issued):
            assert secret not in text  # no secret, no access token in the log
        # The access log: every request, but no query string (signature, nonce) and no link's secret.
        assert re.search(r"lovebank\.access \[[^\]]*\]: 127\.0\.0\.1 POST /wechat 200 \d+ms", text), text
        assert "GET /download/{secret} 200" in text and "POST /telegram 200" in text
        assert "signature=" not in text and "nonce=" not in text and "echostr" not in text


def journey(tmp_path: Path, process: Process, wechat_api: APIServer, bot_api: BotAPI) -> None:
    url = f"http://127.0.0.1:{process.port}"
    server = WeChatServer(url, wechat_api.api)

    # URL verification, and a bad signature that stores nothing.
    verified = server.verify("hello-wechat")
    assert (verified.status, verified.body) == (200, "hello-wechat")
    assert server.verify(token="wrong").status == 403
    assert server.post(server.text("oSomeone", "/help")[1], bad_signature=True).status == 403
    assert inbox_rows(tmp_path) == 0

    # Telegram: the admin creates the community and appoints 张丽, who links her WeChat.
    admin = TelegramPerson(bot_api, url, ADMIN, "陈主任", "chen_admin")
    zhangli = TelegramPerson(bot_api, url, 2002, "张丽", "zhangli")
    admin.say("/newcommunity 阳光社区", "已创建社区")
    zhangli.say("/start", "爱心银行")
    admin.say("/appoint @zhangli", "已任命 张丽")
    code = re.search(r"/link ([A-Z0-9]{6})", zhangli.say("/link", "关联码").text).group(1)
    worker = WeChatPerson(server, wechat_api, "oWorkerZhang")
    worker.send(server.event(worker.openid, "subscribe"))
    assert "关联成功" in worker.say(f"/link {code}")

    # The worker's /invite on WeChat: the code and a parametric QR code picture.
    invite = worker.say("/invite")
    invite_code = re.search(r"[A-Z2-9]{8}", invite).group(0)
    worker.hears(".*", kind="image")
    assert invite_code in wechat_api.api.qr.values()

    # The newcomer scans it: follows, joins, registers with a typed phone number.
    volunteer = WeChatPerson(server, wechat_api, "oVolunteerWang")
    welcome = volunteer.send(server.event(volunteer.openid, "subscribe", f"qrscene_{invite_code}"))
    assert "欢迎加入 阳光社区" in welcome and "真实姓名" in welcome
    assert "手机号" in volunteer.say("王芳") and "按钮" not in volunteer.last
    assert "登记成功" in volunteer.say("13800000001")

    # Hours by tapping numbered links; the submit is retried by WeChat: one log, the same reply.
    step = volunteer.say("/log")
    step = volunteer.tap(step, "探访")
    step = volunteer.tap(step, "今天")
    step = volunteer.tap(step, "1 小时")
    step = volunteer.say("陪李奶奶聊天")
    assert "请确认" in step
    submit = next((c, n) for c, n in LINK.findall(step) if "提交" in c)
    msg_id, fields = server.text(volunteer.openid, submit[0], menu_id=submit[1])
    first = server.post(fields).message(server.crypto)["Content"]
    again = server.post(fields).message(server.crypto)["Content"]
    assert first == again and re.search(r"已提交服务记录 H\d+", first)
    assert inbox_rows(tmp_path, str(msg_id)) == 1
    log_id = re.search(r"H(\d+)", first).group(1)

    # The worker on WeChat is told and approves by tapping.
    worker.hears("等待审核")
    pending = worker.say("/pending")
    assert f"H{log_id}" in pending
    assert f"已通过 H{log_id}" in worker.tap(pending, "通过")
    volunteer.hears(f"H{log_id}（.*）已通过")
    assert "可用积分：10" in volunteer.say("/balance")

    # A worker on Telegram (the admin) approves a WeChat log: the volunteer hears it on WeChat.
    second = re.search(r"已提交服务记录 H(\d+)", volunteer.say("/log 2h 助餐 送午餐")).group(1)
    admin.say(f"/approve H{second}", f"已通过 H{second}")
    volunteer.hears(f"H{second}（.*）已通过")

    # Redeem, approved on Telegram, the pickup code on WeChat.
    admin.say("/additem 毛巾 20 10", "I\\d+")
    redeem = volunteer.say("/redeem I1 1")
    order = re.search(r"R(\d+)", redeem)
    if order is None:  # asked to confirm first
        order = re.search(r"R(\d+)", volunteer.tap(redeem, "确认"))
    admin.say(f"/approve_order R{order.group(1)}", "R\\d+")
    pickup = volunteer.hears("取货码|提货码")
    assert re.search(r"[A-HJ-NP-Z2-9]{6}", pickup.content)

    # The report as a link that downloads the XLSX from lovebank serve.
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
    report = worker.say(f"/report {month}")
    link = re.search(re.escape(PUBLIC) + r"(/download/\S+)", report)
    assert link is not None, report
    with urllib.request.urlopen(url + link.group(1), timeout=10) as response:
        assert response.read()[:2] == b"PK"

    # Outside the 48-hour window (WeChat's reckoning): the template message instead.
    wechat_api.api.seen(volunteer.openid, at=0)
    third = re.search(r"已提交服务记录 H(\d+)", volunteer.say("/log 1h 助洁 昨天")).group(1)
    wechat_api.api.seen(volunteer.openid, at=0)
    admin.say(f"/reject H{third} 日期不对", f"H{third}")
    template = volunteer.hears("H" + third, kind="template")
    assert template.fields == {
        "character_string1": f"H{third}",
        "thing2": "助洁",
        "phrase3": "未通过",
        "thing4": "日期不对",
    }
    assert wechat_api.api.refused[-1][0] == 45015

    # One access token for the whole journey; a second process (the menu command) shares it.
    assert wechat_api.api.token_fetches == 1
    menu = subprocess.run(
        [sys.executable, "-m", "bot", "wechat", "menu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=menu_env(tmp_path, wechat_api.url),
    )
    assert menu.returncode == 0, menu.stderr
    assert wechat_api.api.token_fetches == 1 and len(wechat_api.api.menus) == 1
    # WeChat stops accepting it: refreshed once, and the message still goes.
    wechat_api.api.fail_next.append(40001)
    volunteer.say("/chart")  # a picture: uploaded and sent through the API with the new token
    volunteer.hears(".*", kind="image")
    assert wechat_api.api.token_fetches == 2
