"""WeChat's HTTP API (every call through LOVEBANK_WECHAT_API_URL, so tests point it at a
stand-in): the access token, customer-service and template messages, temporary media, the
custom menu and parametric QR codes, and the openid of a web authorisation (the desk's login\ninside WeChat).

The access token is shared through the database (`TokenStore`); when WeChat says it is invalid
or expired (40001, 42001, 40014) it is refreshed once and the call retried once. The token
travels in the query string, so neither URLs nor httpx's request log are ever written out, and
errors carry only the API path."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.kernel.settings import Settings
from handlers.wechat.tokens import TokenStore

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL, token included

TOKEN_ERRORS = (40001, 40014, 42001)
OUT_OF_WINDOW = 45015  # more than 48 hours since the person last wrote
TOO_MANY = 45047  # too many customer-service messages to one person in a row
UNFOLLOWED = 43004  # the person does not follow the account (any more)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
QR_DAYS = 30  # temporary QR codes live at most 30 days


class WeChatError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"WeChat error {code}: {message}")


class WeChatUnavailable(WeChatError):
    """No answer (network, timeout, 5xx): worth trying again later."""

    def __init__(self, message: str) -> None:
        super().__init__(-1, message)


@dataclass(frozen=True)
class QRCode:
    ticket: str
    url: str  # what the QR code encodes; render it with any QR library


class WeChatAPI:
    def __init__(self, settings: Settings, tokens: TokenStore, client: httpx.AsyncClient | None = None) -> None:
        if not settings.wechat_app_id or settings.wechat_app_secret is None:
            raise WeChatError(0, "LOVEBANK_WECHAT_APP_ID and LOVEBANK_WECHAT_APP_SECRET are needed for WeChat's API")
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret
        self.tokens = tokens
        self.app = f"wechat:{self.app_id}"
        self.client = client or httpx.AsyncClient(base_url=settings.wechat_api_url.rstrip("/"), timeout=TIMEOUT)

    async def close(self) -> None:
        await self.client.aclose()

    # --- the token ------------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, int]:
        data = await self._request(
            "GET",
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret.get_secret_value(),
            },
        )
        token = data.get("access_token")
        if not token:
            raise WeChatError(int(data.get("errcode", -1)), str(data.get("errmsg", "no access_token")))
        log.info("WeChat access token fetched")  # never the token itself
        return str(token), int(data.get("expires_in", 7200))

    async def check(self) -> str:
        """ "ok" when the shared token can be read or fetched; else why not (for /readyz)."""
        try:
            await self.tokens.get(self.app, self._fetch_token)
        except WeChatUnavailable as exc:
            return f"unreachable ({exc.message})"
        except WeChatError as exc:
            return f"{exc.message} ({exc.code})"
        return "ok"

    async def call(
        self, method: str, path: str, *, body: Any = None, files: Any = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An API call with the shared token: refreshed once and retried once when rejected."""
        token = await self.tokens.get(self.app, self._fetch_token)
        for attempt in range(2):
            data = await self._request(
                method, path, params={**(params or {}), "access_token": token}, body=body, files=files
            )
            code = int(data.get("errcode", 0) or 0)
            if code in TOKEN_ERRORS and attempt == 0:
                token = await self.tokens.get(self.app, self._fetch_token, rejected=token)
                continue
            if code:
                raise WeChatError(code, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")

    async def _request(
        self, method: str, path: str, *, params: dict[str, str], body: Any = None, files: Any = None
    ) -> dict[str, Any]:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()  # WeChat wants UTF-8, not \\u
        try:
            response = await self.client.request(
                method,
                path,
                params=params,
                content=content,
                files=files,
                headers={"Content-Type": "application/json"} if content else None,
            )
        except httpx.HTTPError as exc:  # the message would name the URL, token and all: only the type
            raise WeChatUnavailable(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise WeChatUnavailable(f"{path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise WeChatUnavailable(f"{path}: HTTP {response.status_code}, not JSON") from None
        return data if isinstance(data, dict) else {}

    # --- web authorisation (网页授权) ---------------------------------------------------------------

    async def web_openid(self, code: str) -> str:
        """The openid behind a web authorisation `code` (scope snsapi_base): WeChat hands the
        code to our page once the person opened it inside WeChat. Its own token, not the shared one."""
        data = await self._request(
            "GET",
            "/sns/oauth2/access_token",
            params={
                "appid": self.app_id,
                "secret": self._secret.get_secret_value(),
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        openid = data.get("openid")
        if not openid:
            raise WeChatError(int(data.get("errcode", -1) or -1), str(data.get("errmsg", "no openid")))
        return str(openid)

    # --- what the bot does with it -----------------------------------------------------------------

    async def send_text(self, openid: str, content: str) -> None:
        await self.call(
            "POST",
            "/cgi-bin/message/custom/send",
            body={"touser": openid, "msgtype": "text", "text": {"content": content}},
        )

    async def send_image(self, openid: str, media_id: str) -> None:
        await self.call(
            "POST",
            "/cgi-bin/message/custom/send",
            body={"touser": openid, "msgtype": "image", "image": {"media_id": media_id}},
        )

    async def send_template(self, openid: str, template_id: str, fields: dict[str, str]) -> None:
        await self.call(
            "POST",
            "/cgi-bin/message/template/send",
            body={
                "touser": openid,
                "template_id": template_id,
                "data": {name: {"value": value} for name, value in fields.items()},
            },
        )

    async def private_templates(self) -> list[dict[str, Any]]:
        """The account's templates (id, title, content naming its fields)."""
        data = await self.call("GET", "/cgi-bin/template/get_all_private_template")
        found = data.get("template_list")
        return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else []

    async def upload_image(self, png: bytes, filename: str = "image.png") -> str:
        """Temporary media (kept by WeChat for 3 days); returns its media_id."""
        data = await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": "image"}, files={"media": (filename, png, "image/png")}
        )
        return str(data["media_id"])

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.call("POST", "/cgi-bin/menu/create", body=menu)

    async def create_qr(self, scene: str, *, permanent: bool = False) -> QRCode:
        """A parametric QR code: scanning it follows the account and sends `scene` back."""
        body: dict[str, Any] = {
            "action_name": "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        if not permanent:
            body["expire_seconds"] = QR_DAYS * 86400
        data = await self.call("POST", "/cgi-bin/qrcode/create", body=body)
        return QRCode(str(data.get("ticket", "")), str(data["url"]))
