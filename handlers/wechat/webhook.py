"""WeChat in `lovebank serve`: `GET /wechat` (URL verification) and `POST /wechat` (messages and
events), and the WeChat channel on the workers.

A request is checked before anything is stored, and refused with 403 and a WARNING naming the
reason otherwise: `signature` over the token, timestamp and nonce; the timestamp within
LOVEBANK_WECHAT_TIMESTAMP_WINDOW seconds of our clock; and the (timestamp, nonce) pair not seen
before by any process (kept in the database). `signature` does not cover the body, so with an
EncodingAESKey only an encrypted message with a valid `msg_signature` (over the ciphertext) is
read: safe mode, or compatible mode when LOVEBANK_WECHAT_MODE=compatible, and then only its
encrypted part. The body is capped while it is read (413) and must be UTF-8 XML without a
DOCTYPE (400). The message is committed to the inbox (MsgId; events FromUserName + CreateTime +
Event) before anything else, and the inbox worker handles it. The answer is the reply's first
message as a passive reply (encrypted with the key that decrypted the message) when the turn is
done within about 4 seconds and that message is text; otherwise `success`, and the reply goes out
through the customer-service API (a picture needs an upload first: the worker does both).
WeChat's retry of a message (same MsgId) gets the same stored answer and has no second effect; a
database failure is answered 503, so WeChat tries again."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.kernel.settings import Settings, SettingsError
from handlers.web import Web, client_error, read_body, refused
from handlers.wechat import xml
from handlers.wechat.api import WeChatAPI
from handlers.wechat.channel import PASSIVE_SECONDS, REST_AFTER, WeChatChannel
from handlers.wechat.crypto import CryptoError, MessageCrypto, signature_ok
from handlers.wechat.inbound import platform_id
from handlers.wechat.tokens import TokenStore

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
    if settings.wechat_mode == "compatible" and not keys:
        raise SettingsError("lovebank: LOVEBANK_WECHAT_MODE=compatible needs LOVEBANK_WECHAT_AES_KEY")
    if keys:
        try:
            crypto = MessageCrypto(token, settings.wechat_app_id, keys)
        except CryptoError as exc:
            raise SettingsError(f"lovebank: bad setting LOVEBANK_WECHAT_AES_KEY: {exc}") from None
    api = WeChatAPI(settings, TokenStore(services.db, services.clock))
    channel = WeChatChannel(services, settings, api)
    pipeline.add(channel)
    webhook = Webhook(
        channel,
        token,
        crypto,
        pipeline.inbox.wake,
        compatible=settings.wechat_mode == "compatible",
        window=settings.wechat_timestamp_window,
    )
    web.route("/wechat", webhook.endpoint, methods=["GET", "POST"])
    web.check("wechat", api.check)
    web.on_shutdown(api.close)
    return channel


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


class Refused(Exception):
    """A request that is not WeChat's (403; the reason is logged)."""


# A message's own fields: in safe mode's body only the ciphertext and the account are in the clear.
CLEAR_FIELDS = frozenset({"FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "Event", "EventKey"})


class Webhook:
    def __init__(
        self,
        channel: WeChatChannel,
        token: str,
        crypto: MessageCrypto | None,
        wake: Any,
        *,
        compatible: bool = False,
        window: int = 300,
    ) -> None:
        self.channel, self.token, self.crypto, self.wake = channel, token, crypto, wake
        self.compatible, self.window = compatible, window
        self.inbox, self.replay, self.db = channel.services.inbox, channel.services.replay, channel.services.db
        self.waiting = 0  # requests of this process that mean to answer passively, not yet answered

    async def endpoint(self, request: Request) -> Response:
        query = request.query_params
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not signature_ok(query.get("signature"), self.token, timestamp, nonce):
            return refused(log, "WeChat", "bad signature")
        stamp = self.replay.stamp(timestamp, self.window)
        if stamp is None:
            return refused(log, "WeChat", "stale timestamp")
        if request.method == "GET":  # URL verification
            return await self._once(stamp, nonce) or PlainTextResponse(query.get("echostr", ""))
        body = await read_body(request, MAX_BODY)
        if body is None:
            return client_error(413, "too large")
        try:
            fields, key_index = self._open(body, query, timestamp, nonce)
        except xml.BadXML:
            return client_error(400, "not a WeChat message")
        except Refused as exc:
            return refused(log, "WeChat", str(exc))
        openid = fields.get("FromUserName", "")
        if not openid:
            return client_error(400, "not a WeChat message")
        refusal = await self._once(stamp, nonce)
        if refusal is not None:
            return refusal
        try:
            return await self._take_in(fields, key_index)
        except Exception as exc:  # noqa: BLE001 - the database failed: no answer, so WeChat tries again
            log.error("WeChat message not taken in: %s", type(exc).__name__)
            try:
                await self.db.run(self.replay.give_back, "wechat", stamp, nonce)
            except Exception:  # noqa: BLE001, S110 - the database is down: the pair ages out of the window by itself
                pass
            return client_error(503, "try again")

    async def _once(self, stamp: int, nonce: str) -> Response | None:
        """None the first time this (timestamp, nonce) comes; else the answer: 403, or 503 when
        the database cannot say."""
        try:
            if await self.db.run(self.replay.take, "wechat", stamp, nonce, self.window):
                return None
        except Exception as exc:  # noqa: BLE001 - the database cannot say: 503, WeChat tries again
            log.error("WeChat request not checked for a replay: %s", type(exc).__name__)
            return client_error(503, "try again")
        return refused(log, "WeChat", "replay")

    def _open(self, body: bytes, query: Any, timestamp: str, nonce: str) -> tuple[dict[str, str], int | None]:
        """The message's fields and the index of the key that decrypted it (None: plaintext mode,
        no key configured). Raises BadXML (400) or Refused (403)."""
        fields = xml.parse(body)
        if self.crypto is None:
            if query.get("encrypt_type") == "aes" or "Encrypt" in fields:
                raise Refused("encrypted, but no EncodingAESKey is configured")
            return fields, None
        if query.get("encrypt_type") != "aes" or "Encrypt" not in fields:
            raise Refused("plaintext in safe mode")
        if not self.compatible and fields.keys() & CLEAR_FIELDS:
            raise Refused("plaintext in safe mode")  # compatible mode's body, not configured
        if not self.crypto.signature_ok(query.get("msg_signature"), timestamp, nonce, fields["Encrypt"]):
            raise Refused("bad msg_signature")
        try:
            plain, key_index = self.crypto.decrypt_with_key(fields["Encrypt"])
        except CryptoError:
            raise Refused("does not decrypt with the EncodingAESKey") from None
        return xml.parse(plain), key_index  # compatible mode: the cleartext beside it is not read

    async def _take_in(self, fields: dict[str, str], key_index: int | None) -> Response:
        started = time.monotonic()
        # A long queue here: this answer would not make WeChat's 5 s. `success` at once, and no
        # "at" in the entry, so the worker sends the reply by the API as soon as it is ready.
        passive = self.waiting < MAX_WAITING
        payload = {"xml": fields, "at": time.time()} if passive else {"xml": fields}
        self.waiting += passive
        try:
            stored = await self.db.run(self.inbox.store, "wechat", platform_id(fields), fields["FromUserName"], payload)
            if not stored.duplicate:
                self.wake()
            answer = None
            if passive or stored.duplicate:
                answer = await self._answer(stored.id, stored.duplicate, PASSIVE_SECONDS - (time.monotonic() - started))
        finally:
            self.waiting -= passive
        if answer is None:
            return PlainTextResponse(SUCCESS)
        return self._passive(fields, answer, key_index)

    async def _answer(self, entry_id: int, duplicate: bool, left: float) -> dict[str, str] | None:
        """The message to answer passively, or None for `success`; `left`: seconds until the
        passive answer is due."""
        result = await self.inbox.wait(entry_id, max(left, 0.0))
        if result is None or not result.reply or "text" not in (result.reply.get("messages") or [{}])[0]:
            return None  # nothing to say, or a picture first: the worker sends it by the API
        messages = result.reply["messages"]
        if result.status == "handled" and result.replied is None:
            taken = await self.db.run(self.inbox.take_first, entry_id, len(messages), REST_AFTER)
            return taken["messages"][0] if taken else None
        if duplicate and result.replied == "passive":
            return messages[0]  # our passive answer did not reach WeChat: the same answer again
        return None

    def _passive(self, fields: dict[str, str], message: dict[str, str], key_index: int | None) -> Response:
        now = int(time.time())
        body = xml.text_message(fields["FromUserName"], fields.get("ToUserName", ""), message["text"], now)
        if key_index is not None and self.crypto is not None:
            timestamp, nonce = str(now), secrets.token_hex(8)
            encrypted_body = self.crypto.encrypt(body, key_index=key_index)
            body = xml.encrypted_envelope(
                encrypted_body, self.crypto.signature(timestamp, nonce, encrypted_body), timestamp, nonce
            )
        return Response(body, media_type="application/xml")
