"""What /wechat refuses, through the real ASGI app: with an EncodingAESKey only safe-mode messages
(a plaintext body is a forgery: its `signature` does not cover the body), every request fresh and
each (timestamp, nonce) once, in any process; all refused with 403, a WARNING naming the reason
and nothing stored. Compatible mode only when configured, trusting the encrypted part; plaintext
mode without a key. A key rotation without a gap: the reply goes out under the key that decrypted
the message."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from handlers.wechat import xml
from handlers.wechat.crypto import CryptoError, MessageCrypto
from models import InboxEntry, WebhookNonce
from tests.bodies import Flood
from tests.wechat.serving import Served, count, serving, wechat_worker
from tests.wechat.standin import AES_KEY, APP_ID, TOKEN, APIServer, WeChatServer
from tests.world import make_world

pytestmark = pytest.mark.db

NEW_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's console makes them


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    return Services(database, settings, Clock())


@pytest.fixture
async def served(services: Services, settings: Settings, wechat_api: APIServer) -> AsyncIterator[Served]:
    async with serving(services, settings, wechat_api) as served:
        yield served


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "handlers.wechat.webhook" and r.levelno == logging.WARNING
    ]


async def test_forged_plaintext_with_an_old_timestamp_gets_nothing(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 1: a logged callback URL (signature, timestamp, nonce from 2001) and a plaintext body
    naming a worker's openid asked for the month's report and got the download link."""
    world = await make_world(served.services)
    await wechat_worker(served, world)
    stored = await count(served.services, InboxEntry)
    _, fields = served.wechat.text("oWorker", "/report 2026-12")
    forged = await served.post(fields, plaintext=True, timestamp=978307200, nonce="1234567890")
    assert forged.status == 403 and "download" not in forged.body
    # The same forgery with a fresh timestamp: still no, a plaintext body proves nothing.
    assert (await served.post(fields, plaintext=True)).status == 403
    assert await count(served.services, InboxEntry) == stored
    assert refusals(caplog) == [
        "WeChat request refused (403): stale timestamp",
        "WeChat request refused (403): plaintext in safe mode",
    ]


async def test_replayed_nonce_old_timestamp_and_compatible_body_are_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    _, fields = served.wechat.text("oR", "/help")
    query, body = served.wechat.request(fields)
    assert (await served.send(query, body)).status == 200
    # The very same request again (a captured one replayed): refused, whatever the body says.
    assert (await served.send(query, body)).status == 403
    _, other = served.wechat.text("oR", "/lang")
    assert (await served.post(other, nonce=query["nonce"], timestamp=int(query["timestamp"]))).status == 403
    # Six minutes old, or six minutes ahead of our clock: refused although correctly signed.
    now = int(time.time())
    assert (await served.post(served.wechat.text("oR", "/help")[1], timestamp=now - 360)).status == 403
    assert (await served.post(served.wechat.text("oR", "/help")[1], timestamp=now + 360)).status == 403
    # A compatible-mode body (plaintext beside the ciphertext) when safe mode is configured.
    _, mixed = served.wechat.text("oR", "/balance")
    query, _ = served.wechat.request(mixed)
    encrypted = served.wechat.crypto.encrypt(xml.build(mixed))  # type: ignore[union-attr]
    query["msg_signature"] = served.wechat.crypto.signature(query["timestamp"], query["nonce"], encrypted)  # type: ignore[union-attr]
    body = xml.build({**{k: str(v) for k, v in mixed.items()}, "Encrypt": encrypted}).encode()
    assert (await served.send(query, body)).status == 403
    assert await count(served.services, InboxEntry) == 1
    assert [m.split(": ", 1)[1] for m in refusals(caplog)] == [
        "replay",
        "replay",
        "stale timestamp",
        "stale timestamp",
        "plaintext in safe mode",
    ]
    assert all(query["signature"] not in m and query["nonce"] not in m for m in refusals(caplog))


async def test_the_nonce_is_kept_for_every_process(served: Served, settings: Settings, wechat_api: APIServer) -> None:
    """A second `lovebank serve` on the same database refuses what the first one took."""
    _, fields = served.wechat.text("oTwo", "/help")
    query, body = served.wechat.request(fields)
    assert (await served.send(query, body)).status == 200
    other = Services(Database(settings.database_url), settings, Clock())
    try:
        async with serving(other, settings, wechat_api) as second:
            assert (await second.send(query, body)).status == 403
    finally:
        await other.db.dispose()


async def test_verification_is_once_too_and_old_pairs_are_pruned(served: Served) -> None:
    stamp, nonce = str(int(time.time())), "424242"
    signature = served.wechat.request({"FromUserName": "x"}, timestamp=int(stamp), nonce=nonce)[0]["signature"]
    verify = {"signature": signature, "timestamp": stamp, "nonce": nonce, "echostr": "e1"}
    assert (await served.client.get("/wechat", params=verify)).text == "e1"
    assert (await served.client.get("/wechat", params=verify)).status_code == 403
    # Pairs are kept while their timestamp could pass as fresh, then pruned.
    guard, window = served.services.replay, 300
    assert await served.services.run(guard.take, "wechat", int(stamp) - window - 5, "old", window)
    guard._pruned_at = 0.0
    assert await served.services.run(guard.take, "wechat", int(stamp), "new", window)
    with served.services.db.read() as session:
        kept = session.execute(select(WebhookNonce.nonce).order_by(WebhookNonce.nonce)).scalars().all()
    assert kept == [nonce, "new"]


async def test_compatible_mode_trusts_only_the_ciphertext(
    services: Services, settings: Settings, wechat_api: APIServer
) -> None:
    settings = settings.model_copy(update={"wechat_mode": "compatible"})
    async with serving(services, settings, wechat_api) as served:
        _, fields = served.wechat.text("oCompat", "/lang")
        query, _ = served.wechat.request(fields)
        encrypted = served.wechat.crypto.encrypt(xml.build(fields))  # type: ignore[union-attr]
        query["msg_signature"] = served.wechat.crypto.signature(query["timestamp"], query["nonce"], encrypted)  # type: ignore[union-attr]
        # The plaintext beside it says someone else and something else: it is not read.
        lying = {**{k: str(v) for k, v in fields.items()}, "FromUserName": "oVictim", "Content": "/balance"}
        answer = await served.send(query, xml.build({**lying, "Encrypt": encrypted}).encode())
        assert "English" in answer.message(served.wechat.crypto)["Content"]
        assert await count(services, InboxEntry, InboxEntry.sender == "oVictim") == 0
        # Plaintext alone is still refused in compatible mode.
        assert (await served.post(served.wechat.text("oCompat", "/help")[1], plaintext=True)).status == 403


async def test_plaintext_mode_without_a_key_is_signed_fresh_and_once(
    services: Services, settings: Settings, wechat_api: APIServer
) -> None:
    settings = settings.model_copy(update={"wechat_aes_key": None})
    async with serving(services, settings, wechat_api) as served:
        assert served.wechat.crypto is None
        _, fields = served.wechat.text("oPlain", "/help")
        query, body = served.wechat.request(fields)
        answer = await served.send(query, body)
        assert "Encrypt" not in answer.body and "/help" in answer.message()["Content"]
        assert (await served.send(query, body)).status == 403  # replayed
        assert (await served.post(served.wechat.text("oPlain", "/help")[1], timestamp=978307200)).status == 403
        assert await count(services, InboxEntry) == 1


async def test_key_rotation_answers_under_the_key_that_decrypted(
    services: Services, settings: Settings, wechat_api: APIServer
) -> None:
    """Runbook order: the new key beside the old one first (LOVEBANK_WECHAT_AES_KEY_PREVIOUS = the
    old one), restart; WeChat still encrypts with the old key until the new one is saved there."""
    settings = settings.model_copy(
        update={"wechat_aes_key": SecretStr(NEW_KEY), "wechat_aes_key_previous": SecretStr(AES_KEY)}
    )
    async with serving(services, settings, wechat_api, aes_key=AES_KEY) as served:
        old, new = served.wechat, WeChatServer("http://bank.test", wechat_api.api, aes_key=NEW_KEY)
        before = await served.post(old.text("oRot", "/help")[1])
        assert "/help" in before.message(MessageCrypto(TOKEN, APP_ID, [AES_KEY]))["Content"]
        served.wechat = new  # the new key saved in WeChat's console: WeChat uses it at once
        after = await served.post(new.text("oRot", "/lang")[1])
        assert "English" in after.message(MessageCrypto(TOKEN, APP_ID, [NEW_KEY]))["Content"]
        with pytest.raises(CryptoError):  # and not readable with the other key
            after.message(MessageCrypto(TOKEN, APP_ID, [AES_KEY]))


async def test_bodies_are_capped_while_read_and_only_utf8_xml_is_parsed(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    _, fields = served.wechat.text("oBody", "/help")
    query, body = served.wechat.request(fields)
    # 600 MB in 16 kB chunks: 413 once the 64 kB cap is passed; the rest is never read.
    flood = Flood(b"<" * 16384, 40_000)
    assert (await served.send(query, flood)).status == 413
    assert flood.sent <= 6
    text = body.decode()
    for bad in (
        text.encode("utf-16"),  # with its byte-order mark
        text.encode("utf-16-le"),  # without
        f'<?xml version="1.0" encoding="GBK"?>{text}'.encode(),
        f'<?xml version="1.0" encoding="x-no-such-encoding"?>{text}'.encode(),
        f'<!DOCTYPE xml [<!ENTITY a "{"x" * 1000}">]>{text}'.encode(),
        b"\xff\xfe" + body,
    ):
        assert (await served.send(query, bad)).status == 400
    # The inner message has the same rules: WeChat's own signature on a GBK-declared message.
    inner = f'<?xml version="1.0" encoding="GBK"?>{xml.build(fields)}'
    encrypted = served.wechat.crypto.encrypt(inner)  # type: ignore[union-attr]
    query["msg_signature"] = served.wechat.crypto.signature(query["timestamp"], query["nonce"], encrypted)  # type: ignore[union-attr]
    assert (await served.send(query, xml.build({"ToUserName": "gh", "Encrypt": encrypted}).encode())).status == 400
    assert await count(served.services, InboxEntry) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_database_failure_is_answered_503_and_the_retry_is_served(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    async def broken(*_: object, **__: object) -> None:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    _, fields = served.wechat.text("oDown", "/help")
    query, body = served.wechat.request(fields)
    wait = served.services.inbox.wait
    monkeypatch.setattr(served.services.inbox, "wait", broken)  # stored, then the database goes away
    assert (await served.send(query, body)).status == 503
    assert await count(served.services, InboxEntry) == 1
    monkeypatch.setattr(served.services.inbox, "wait", wait)
    # WeChat tries again (the same request): the stored message is answered once, no second entry.
    answer = await served.send(query, body)
    assert answer.status == 200 and "/help" in answer.message(served.wechat.crypto)["Content"]
    assert await count(served.services, InboxEntry) == 1
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage() == "WeChat message not taken in: OperationalError" and not error.exc_info


async def test_the_access_log_gives_no_request_away(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lovebank.access")
    query, body = served.wechat.request(served.wechat.text("oLog", "/help")[1])
    assert (await served.send(query, body)).status == 200
    verify = {k: query[k] for k in ("signature", "timestamp")} | {"nonce": "98765", "echostr": "echo-77"}
    verify["signature"] = served.wechat.request(
        {"FromUserName": "x"}, timestamp=int(query["timestamp"]), nonce="98765"
    )[0]["signature"]
    assert (await served.client.get("/wechat", params=verify)).text == "echo-77"
    secret = await served.services.run(served.services.downloads.offer, await _someone(served), "r.xlsx", b"PK")
    assert (await served.client.get(f"/download/{secret}")).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "lovebank.access"]
    assert [line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in lines] == [
        "POST /wechat 200",
        "GET /wechat 200",
        "GET /download/{secret} 200",
    ]
    everything = caplog.text
    for given in (query["signature"], query["msg_signature"], query["nonce"], "98765", "echo-77", secret):
        assert given not in everything


async def _someone(served: Served) -> int:
    person, _ = await served.services.run(served.services.people.identify, "wechat", "oLog", display_name="x")
    return person.id


def test_compatible_mode_needs_a_key(services: Services, settings: Settings) -> None:
    from bot.kernel.settings import SettingsError
    from bot.runtime.pipeline import Pipeline
    from handlers.web import Web
    from handlers.wechat.webhook import setup

    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
    with pytest.raises(SettingsError, match="LOVEBANK_WECHAT_MODE=compatible needs LOVEBANK_WECHAT_AES_KEY"):
        setup(web, settings.model_copy(update={"wechat_aes_key": None, "wechat_mode": "compatible"}))
