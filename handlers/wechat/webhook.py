"""WeChat in `lovebank serve`: `GET /wechat` (URL verification) and `POST /wechat` (messages and
events), and the WeChat channel on the workers.

A request is checked first: `signature` over the token, timestamp and nonce, and in safe or
compatible mode (`encrypt_type=aes`) `msg_signature` over the ciphertext too; a bad one gets 403
and nothing is stored. The message is committed to the inbox (MsgId; events FromUserName +
CreateTime + Event) before anything else, and the inbox worker handles it. The answer is the
reply's first message as a passive reply (encrypted in safe mode) when the turn is done within
about 4 seconds and that message is text; otherwise `success`, and the reply goes out through
the customer-service API (a picture needs an upload first: the worker does both).
WeChat's retry of a message (same MsgId) gets the same stored answer and has no second effect."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.settings import Settings, SettingsError
from handlers.web import Web, client_error
from handlers.wechat import xml
from handlers.wechat.api import WeChatAPI
from handlers.wechat.channel import PASSIVE_SECONDS, REST_AFTER, WeChatChannel
from handlers.wechat.crypto import CryptoError, MessageCrypto, signature_ok
from handlers.wechat.inbound import platform_id

log = logging.getLogger(__name__)

SUCCESS = "success"  # "received; the answer comes later" (WeChat does not retry)
MAX_BODY = 64 * 1024
# More requests than this already waiting for their turn: a new one answers `success` at once
# (its turn would come too late for a passive answer; `bench wechat --concurrency 500`).
MAX_WAITING = 100


def setup(web: Web, settings: Settings) -> WeChatChannel:
    services, pipeline = web.services, web.pipeline
    token = _secret(settings.wechat_token)
    if not token:
        raise SettingsError("lovebank: LOVEBANK_WECHAT_TOKEN is not set (the Token of the account's server settings)")
    if not settings.wechat_app_id or not _secret(settings.wechat_app_secret):
        raise SettingsError("lovebank: LOVEBANK_WECHAT_APP_ID and LOVEBANK_WECHAT_APP_SECRET are needed for WeChat")
    keys = [_secret(k) for k in (settings.wechat_aes_key, settings.wechat_aes_key_previous) if _secret(k)]
    crypto = None
    if keys:
        try:
            crypto = MessageCrypto(token, settings.wechat_app_id, keys)
        except CryptoError as exc:
            raise SettingsError(f"lovebank: bad setting LOVEBANK_WECHAT_AES_KEY: {exc}") from None
    api = WeChatAPI(settings, services.tokens)
    channel = WeChatChannel(services, settings, api)
    pipeline.add(channel)
    webhook = Webhook(channel, token, crypto, pipeline.inbox.wake)
    web.route("/wechat", webhook.endpoint, methods=["GET", "POST"])
    web.on_shutdown(api.close)
    return channel


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


class Webhook:
    def __init__(self, channel: WeChatChannel, token: str, crypto: MessageCrypto | None, wake: Any) -> None:
        self.channel, self.token, self.crypto, self.wake = channel, token, crypto, wake
        self.inbox = channel.services.inbox
        self.waiting = 0  # requests of this process that mean to answer passively, not yet answered

    async def endpoint(self, request: Request) -> Response:
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_ok(query.get("signature"), self.token, timestamp, nonce):
            return client_error(403, "forbidden")
        if request.method == "GET":  # URL verification
            return PlainTextResponse(query.get("echostr", ""))
        body = await request.body()
        if len(body) > MAX_BODY:
            return client_error(413, "too large")
        encrypted = query.get("encrypt_type") == "aes"
        try:
            fields = xml.parse(body)
            if encrypted:
                if self.crypto is None or not self.crypto.signature_ok(
                        query.get("msg_signature"), timestamp, nonce, fields.get("Encrypt", "")):
                    return client_error(403, "forbidden")
                fields = xml.parse(self.crypto.decrypt(fields["Encrypt"]))
        except (xml.BadXML, CryptoError, KeyError):
            return client_error(403 if encrypted else 400, "not a WeChat message")
        openid = fields.get("FromUserName", "")
        if not openid:
            return client_error(400, "not a WeChat message")
        started = time.monotonic()
        # A long queue here: this answer would not make WeChat's 5 s. `success` at once, and no
        # "at" in the entry, so the worker sends the reply by the API as soon as it is ready.
        passive = self.waiting < MAX_WAITING
        payload = {"xml": fields, "at": time.time()} if passive else {"xml": fields}
        self.waiting += passive
        try:
            try:
                stored = await self.inbox.store("wechat", platform_id(fields), openid, payload)
            except Exception as exc:  # not stored: no answer, so WeChat tries again
                log.error("WeChat message not stored: %s", type(exc).__name__)
                return client_error(503, "try again")
            if not stored.duplicate:
                self.wake()
            answer = None
            if passive or stored.duplicate:
                answer = await self._answer(stored.id, stored.duplicate, PASSIVE_SECONDS - (time.monotonic() - started))
        finally:
            self.waiting -= passive
        if answer is None:
            return PlainTextResponse(SUCCESS)
        return await self._passive(fields, answer, encrypted)

    async def _answer(self, entry_id: int, duplicate: bool, left: float) -> dict[str, str] | None:
        """The message to answer passively, or None for `success`; `left`: seconds until the
        passive answer is due."""
        result = await self.inbox.wait(entry_id, max(left, 0.0))
        if result is None or not result.reply or "text" not in (result.reply.get("messages") or [{}])[0]:
            return None  # nothing to say, or a picture first: the worker sends it by the API
        messages = result.reply["messages"]
        if result.status == "handled" and result.replied is None:
            taken = await self.inbox.take_first(entry_id, len(messages), REST_AFTER)
            return taken["messages"][0] if taken else None
        if duplicate and result.replied == "passive":
            return messages[0]  # our passive answer did not reach WeChat: the same answer again
        return None

    async def _passive(self, fields: dict[str, str], message: dict[str, str], encrypted: bool) -> Response:
        now = int(time.time())
        body = xml.text_message(fields["FromUserName"], fields.get("ToUserName", ""), message["text"], now)
        if encrypted and self.crypto is not None:
            timestamp, nonce = str(now), secrets.token_hex(8)
            encrypted_body = self.crypto.encrypt(body)
            body = xml.encrypted_envelope(encrypted_body, self.crypto.signature(timestamp, nonce, encrypted_body),
                                          timestamp, nonce)
        return Response(body, media_type="application/xml")
