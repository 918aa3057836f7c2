"""A stand-in for WeChat, for tests: its API (what the bot calls, through LOVEBANK_WECHAT_API_URL)
and its server side (what WeChat posts to the bot's /wechat, signed, plaintext or AES-encrypted,
retried with the same MsgId).

The API behaves like WeChat's, failures included: tokens expire and each fetch retires the
previous one; customer-service messages are budgeted as WeChat budgets them (after a person's
message 5 within 48 hours (`cs_budget`), after a menu click, a follow or a scan 3 within a
minute; 45047 when spent, 45015 when the person has not written for 48 hours); template messages
in today's format (no `first`/`remark`, fields typed by their names and refused over their
type's limit: 47003; unknown template ids 40037); `fail_next` injects an error code (40001 for a
token WeChat no longer accepts); `down` answers every call with that HTTP status. `clock` is its
time, so a test can move it with the bot's."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlparse

from handlers.wechat import xml
from handlers.wechat.crypto import MessageCrypto, sha1_signature

APP_ID, APP_SECRET, TOKEN = "wx5f0b1e2d3c4a5968", "app-secret-never-shown", "lovebank-test-token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
ACCOUNT = "gh_lovebank"  # the Official Account's own id (ToUserName of incoming messages)
WINDOW = 48 * 3600
EVENT_ALLOWED, EVENT_WINDOW = 3, 60
# A private template of the account, as `template/get_all_private_template` lists it.
TEMPLATES = {
    "TPL-HOURS": (
        "服务时长审核结果",
        "服务项目:{{thing1.DATA}}\n服务日期:{{time2.DATA}}\n获得积分:{{number3.DATA}}\n审核结果:{{phrase4.DATA}}",
    ),
    "TPL-TASKS": ("待办事项提醒", "待办事项:{{thing1.DATA}}\n数量:{{number2.DATA}}\n提醒时间:{{time3.DATA}}"),
    "TPL-REVIEW": (
        "审核未通过通知",
        "记录编号:{{character_string1.DATA}}\n服务项目:{{thing2.DATA}}\n审核结果:{{phrase3.DATA}}\n原因:{{thing4.DATA}}",
    ),
    "TPL-PICKUP": (
        "兑换成功通知",
        "商品名称:{{thing1.DATA}}\n取货码:{{character_string2.DATA}}\n兑换单号:{{character_string3.DATA}}",
    ),
}


@dataclass
class Sent:
    kind: str  # text, image, template
    openid: str
    content: str = ""
    media_id: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)  # when it was sent (real time)


class WeChatAPI:
    """The platform API's state: tokens, the 48-hour window, messages sent, media, menus."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.valid_tokens: dict[str, float] = {}  # token → expiry (epoch seconds)
        self.token_fetches = 0
        self.issued: list[str] = []
        self.last_seen: dict[str, float] = {}  # openid → when they last wrote
        self.sent: list[Sent] = []
        self.refused: list[tuple[int, dict[str, Any]]] = []
        self.media: dict[str, bytes] = {}
        self.menus: list[dict[str, Any]] = []
        self.qr: dict[str, str] = {}  # ticket → scene
        self.web_codes: dict[str, str] = {}  # web authorisation code → openid, used once
        self.fail_next: deque[int] = deque()
        self.down: int | None = None  # an HTTP status (502, 503) every call gets while WeChat is down
        self.refused_while_down = 0
        self.clock = time.time
        self.cs_budget = 5
        # (openid, "message" | "event") → [opened at, customer-service messages sent since]
        self.allowance: dict[tuple[str, str], list[float]] = {}
        self.templates = {
            tid: {"template_id": tid, "title": title, "content": content} for tid, (title, content) in TEMPLATES.items()
        }

    def seen(self, openid: str, at: float | None = None, *, kind: str = "message") -> None:
        """The person wrote (kind "message") or clicked, followed or scanned ("event"); `at` in
        the past moves their last message back (and forgets their events)."""
        with self.lock:
            if at is not None:
                self.allowance.pop((openid, "event"), None)
            moment = self.clock() if at is None else at
            self.allowance[(openid, kind)] = [moment, 0]
            if kind == "message":
                self.last_seen[openid] = moment

    def pushed(self, openid: str, kind: str = "text") -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.openid == openid and s.kind == kind]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[Sent]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [s for s in self.sent if predicate(s)]
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"WeChat stand-in: nothing matching after {timeout}s; sent: {self.sent}")
                self.lock.wait(left)

    async def until(self, predicate: Any, timeout: float = 20.0) -> list[Sent]:
        """`wait_for` for a test whose bot runs in the same event loop."""
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [s for s in self.sent if predicate(s)]
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"WeChat stand-in: nothing matching after {timeout}s; sent: {self.sent}")
            await asyncio.sleep(0.02)

    def authorize(self, openid: str) -> str:
        """The person agreed on WeChat's authorisation page: the code WeChat redirects back with."""
        with self.lock:
            code = secrets.token_hex(8)
            self.web_codes[code] = openid
            return code

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes, content_type: str) -> dict[str, Any]:
        with self.lock:
            if path == "/sns/oauth2/access_token":  # web authorisation: the app's secret, not a token
                if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                    return {"errcode": 40125, "errmsg": "invalid appsecret"}
                openid = self.web_codes.pop(query.get("code", ""), None)
                if openid is None or query.get("grant_type") != "authorization_code":
                    return {"errcode": 40029, "errmsg": "invalid code"}
                return {
                    "access_token": secrets.token_hex(8),
                    "expires_in": 7200,
                    "openid": openid,
                    "scope": "snsapi_base",
                }
            if path == "/cgi-bin/token":
                if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                    return {"errcode": 40125, "errmsg": "invalid appsecret"}
                self.token_fetches += 1
                token = secrets.token_hex(16)
                self.issued.append(token)
                # A new token retires the others (WeChat keeps the old one for 5 minutes; here at once).
                self.valid_tokens = {token: self.clock() + 7200}
                return {"access_token": token, "expires_in": 7200}
            token = query.get("access_token", "")
            if self.fail_next:
                code = self.fail_next.popleft()
                if code in (40001, 42001):
                    self.valid_tokens.pop(token, None)
                return {"errcode": code, "errmsg": "injected"}
            if self.valid_tokens.get(token, 0) < self.clock():
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            result = self._call(path, query, body, content_type)
            self.lock.notify_all()
            return result

    def _call(self, path: str, query: dict[str, str], body: bytes, content_type: str) -> dict[str, Any]:
        if path == "/cgi-bin/media/upload":
            media_id = f"media-{len(self.media) + 1}"
            self.media[media_id] = _multipart_file(body, content_type)
            return {"type": query.get("type", "image"), "media_id": media_id, "created_at": int(time.time())}
        data = json.loads(body or b"{}")
        if path == "/cgi-bin/message/custom/send":
            openid = data["touser"]
            code = self._spend(openid)
            if code:
                self.refused.append((code, data))
                return {
                    "errcode": code,
                    "errmsg": "response out of time limit or subscription is canceled"
                    if code == 45015
                    else "out of response count limit",
                }
            if data["msgtype"] == "text":
                self.sent.append(Sent("text", openid, content=data["text"]["content"]))
            else:
                self.sent.append(Sent("image", openid, media_id=data["image"]["media_id"]))
            return {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/template/get_all_private_template":
            return {"template_list": list(self.templates.values())}
        if path == "/cgi-bin/message/template/send":
            if data.get("template_id") not in self.templates:
                self.refused.append((40037, data))
                return {"errcode": 40037, "errmsg": "invalid template_id"}
            fields = {k: v["value"] for k, v in data["data"].items()}
            wrong = next((k for k, v in fields.items() if not template_value_ok(k, v)), None)
            if wrong is not None:
                self.refused.append((47003, data))
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{wrong}.value invalid"}
            self.sent.append(Sent("template", data["touser"], content="\n".join(fields.values()), fields=fields))
            return {"errcode": 0, "errmsg": "ok", "msgid": len(self.sent)}
        if path == "/cgi-bin/menu/create":
            self.menus.append(data)
            return {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/qrcode/create":
            scene = data["action_info"]["scene"]["scene_str"]
            ticket = secrets.token_urlsafe(12)
            self.qr[ticket] = scene
            return {
                "ticket": ticket,
                "expire_seconds": data.get("expire_seconds"),
                "url": f"http://weixin.qq.com/q/{ticket}",
            }
        return {"errcode": 40066, "errmsg": "invalid url"}

    def _spend(self, openid: str) -> int:
        """0 when a customer-service message may go to `openid` now (and it is counted), else
        WeChat's error code."""
        now = self.clock()
        message, event = self.allowance.get((openid, "message")), self.allowance.get((openid, "event"))
        open_message = message is not None and now - message[0] < WINDOW
        open_event = event is not None and now - event[0] < EVENT_WINDOW
        if not open_message and not open_event:
            return 45015
        if open_event and event is not None and event[1] < EVENT_ALLOWED:
            event[1] += 1
            return 0
        if open_message and message is not None and message[1] < self.cs_budget:
            message[1] += 1
            return 0
        return 45047


# What each type of template field takes (WeChat's rules for today's templates).
_VALUE_RULES: dict[str, Any] = {
    "thing": lambda v: 0 < len(v) <= 20,
    "character_string": lambda v: 0 < len(v) <= 32 and all(c.isascii() and c.isprintable() and c != " " for c in v),
    "phrase": lambda v: 0 < len(v) <= 5,
    "number": lambda v: len(v) <= 32 and re.fullmatch(r"-?\d+(\.\d+)?", v),
    "amount": lambda v: re.fullmatch(r"[¥$€]?\d{1,10}(\.\d+)?元?", v),
    "time": lambda v: re.fullmatch(r"(\d{4}年\d{1,2}月\d{1,2}日)? ?(\d{1,2}:\d{2})?", v) and v.strip(),
    "date": lambda v: re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?", v),
    "name": lambda v: 0 < len(v) <= (20 if v.isascii() else 10),
    "phone_number": lambda v: 0 < len(v) <= 17 and re.fullmatch(r"[\d+-]+", v),
}


def template_value_ok(name: str, value: str) -> bool:
    if name in ("first", "remark"):  # gone since May 2023
        return False
    rule = _VALUE_RULES.get(re.sub(r"\d+$", "", name))
    return bool(rule(value)) if rule is not None else len(value) <= 20


def _multipart_file(body: bytes, content_type: str) -> bytes:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        return part.get_payload(decode=True) or b""
    return b""


class APIServer:
    """WeChat's API on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        self.api = WeChatAPI()
        api = self.api

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if api.down is not None:  # an outage: an HTML error page, as a proxy in front gives
                    with api.lock:
                        api.refused_while_down += 1
                    self.send_response(api.down)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                result = api.handle(self.command, url.path, query, body, self.headers.get("Content-Type", ""))
                payload = json.dumps(result, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- WeChat's server side: posting to the bot --------------------------------------------------


@dataclass
class Answer:
    status: int
    body: str
    seconds: float

    def message(self, crypto: MessageCrypto | None = None) -> dict[str, str]:
        """The passive reply, decrypted in safe mode ({} for "success" or empty)."""
        if self.body in ("", "success"):
            return {}
        fields = xml.parse(self.body)
        if "Encrypt" in fields:
            assert crypto is not None, "an encrypted reply needs the key"
            fields = xml.parse(crypto.decrypt(fields["Encrypt"]))
        return fields


class WeChatServer:
    """Posts messages and events to the bot as WeChat does: signed, and in safe mode encrypted."""

    def __init__(
        self,
        url: str,
        api: WeChatAPI | None = None,
        *,
        aes_key: str | None = AES_KEY,
        token: str = TOKEN,
        app_id: str = APP_ID,
    ) -> None:
        self.url, self.api, self.token = url.rstrip("/") + "/wechat", api, token
        self.crypto = MessageCrypto(token, app_id, [aes_key]) if aes_key else None
        self.next_msg_id = 10_000_000

    def now(self) -> float:
        """WeChat's time: the API stand-in's clock, which a test may move with the bot's."""
        return self.api.clock() if self.api is not None else time.time()

    def verify(self, echostr: str = "echo-123", *, token: str | None = None) -> Answer:
        timestamp, nonce = str(int(self.now())), secrets.token_hex(4)
        query = {
            "signature": sha1_signature(token or self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        return self._http("GET", query, None)

    def text(
        self,
        openid: str,
        content: str,
        *,
        msg_id: int | None = None,
        menu_id: str | None = None,
        created: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        if msg_id is None:
            self.next_msg_id += 1
            msg_id = self.next_msg_id
        fields: dict[str, Any] = {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": created or int(time.time()),
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
        if menu_id is not None:
            fields["bizmsgmenuid"] = menu_id
        return msg_id, fields

    def event(self, openid: str, event: str, key: str | None = None, *, created: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": created or int(time.time()),
            "MsgType": "event",
            "Event": event,
        }
        if key is not None:
            fields["EventKey"] = key
        return fields

    def post(self, fields: dict[str, Any], **options: Any) -> Answer:
        query, body = self.request(fields, **options)
        return self._http("POST", query, body)

    def request(
        self,
        fields: dict[str, Any],
        *,
        bad_signature: bool = False,
        plaintext: bool = False,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would POST for `fields` (now, with a new nonce, unless
        `timestamp` or `nonce` are given)."""
        opens_window = fields.get("MsgType") != "event" or fields.get("Event") in ("subscribe", "SCAN", "CLICK")
        if self.api is not None and opens_window:  # each message or event opens a budget
            self.api.seen(str(fields["FromUserName"]), kind="event" if fields.get("MsgType") == "event" else "message")
        body = xml.build(fields)
        stamp, once = str(int(self.now()) if timestamp is None else timestamp), nonce or secrets.token_hex(4)
        query = {"timestamp": stamp, "nonce": once, "openid": str(fields["FromUserName"])}
        query["signature"] = sha1_signature(self.token, stamp, once)
        if self.crypto is not None and not plaintext:
            encrypted = self.crypto.encrypt(body)
            query.update(encrypt_type="aes", msg_signature=self.crypto.signature(stamp, once, encrypted))
            body = xml.build({"ToUserName": ACCOUNT, "Encrypt": encrypted})
        if bad_signature:
            query["signature"] = "0" * 40
            if "msg_signature" in query:
                query["msg_signature"] = "0" * 40
        return query, body.encode()

    def _http(self, method: str, query: dict[str, str], body: bytes | None) -> Answer:
        request = urllib.request.Request(
            f"{self.url}?{urlencode(query)}",
            data=body,
            method=method,
            headers={"Content-Type": "text/xml"} if body else {},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, response.read().decode(), time.perf_counter() - started)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode(errors="replace"), time.perf_counter() - started)
