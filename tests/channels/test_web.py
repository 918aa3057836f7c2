"""The web app of `lovebank serve` over httpx's ASGI transport (in the test's event loop, without
the lifespan, so no worker runs): the Telegram webhook's secret (a refusal logged with its
reason), what it stores, duplicates, bodies too large or too deep, and the health checks (getMe
against the Bot API stand-in)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.webhook import SECRET_HEADER, setup
from handlers.web import Web
from models import InboxEntry
from tests.bodies import Flood

pytestmark = pytest.mark.db

SECRET = "s3cret-token"


def web_for(services: Services, settings: Settings) -> Web:
    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
    setup(web, settings.model_copy(update={"webhook_secret": SecretStr(SECRET)}))
    return web


def client_for(web: Web) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url="http://bot")


async def stored(services: Services) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxEntry)) or 0)


def update(n: int) -> dict[str, Any]:
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": 0,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "a"},
            "text": "/help",
        },
    }


async def test_the_webhook_stores_only_with_the_secret_and_once(tg_services: Services, tg_settings: Settings) -> None:
    async with client_for(web_for(tg_services, tg_settings)) as client:
        assert (await client.post("/telegram", json=update(1))).status_code == 403
        assert (await client.post("/telegram", json=update(1), headers={SECRET_HEADER: "wrong"})).status_code == 403
        assert await stored(tg_services) == 0
        ok = {SECRET_HEADER: SECRET}
        assert (await client.post("/telegram", content=b"not json", headers=ok)).status_code == 400
        assert (await client.post("/telegram", json={"update_id": "1"}, headers=ok)).status_code == 400
        assert (await client.get("/telegram")).status_code == 405
        assert (await client.post("/telegram", json=update(1), headers=ok)).status_code == 200
        assert (await client.post("/telegram", json=update(1), headers=ok)).status_code == 200  # Telegram's retry
    assert await stored(tg_services) == 1
    result = await tg_services.run(tg_services.inbox.result, "telegram", "1")
    assert result is not None and result.status == "new"


async def test_refusals_are_logged_and_bodies_bounded(
    tg_services: Services, tg_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    ok = {SECRET_HEADER: SECRET}
    caplog.set_level(logging.INFO, logger="lovebank.access")
    async with client_for(web_for(tg_services, tg_settings)) as client:
        assert (await client.post("/telegram", json=update(1), headers={SECRET_HEADER: "wrong"})).status_code == 403
        assert (await client.post("/telegram", json=update(9), headers=ok)).status_code == 200
        assert [r.getMessage().split(" ")[1:4] for r in caplog.records if r.name == "lovebank.access"] == [
            ["POST", "/telegram", "403"],
            ["POST", "/telegram", "200"],
        ]
        assert SECRET not in caplog.text  # the secret token is a header: never logged
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert (
            warning.getMessage() == "Telegram request refused (403): bad secret token"
            and "wrong" not in warning.getMessage()
        )
        # 600 MB announced in chunks: refused once the cap (1 MB) is passed, the rest never read.
        flood = Flood(b"{" * 65536, 10_000)
        assert (await client.post("/telegram", content=flood, headers=ok)).status_code == 413
        assert flood.sent <= 17
        # Nested deeper than any update: 400, not a RecursionError.
        for depth in (100, 100_000):
            deep = b'{"update_id": 5, "message": ' + b"[" * depth + b"]" * depth + b"}"
            assert (await client.post("/telegram", content=deep, headers=ok)).status_code == 400
    assert await stored(tg_services) == 1


async def test_health_and_readiness(tg_services: Services, tg_settings: Settings, tmp_path: Path) -> None:
    from tests.e2e.standin import TOKEN, BotAPI, serve

    server = serve(BotAPI())
    here = tg_settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": f"http://127.0.0.1:{server.server_address[1]}/bot",
        }
    )
    try:
        web = web_for(tg_services, here)
        async with client_for(web) as client:
            assert (await client.get("/readyz")).json() == {"database": "ok", "telegram": "not checked yet"}
            await web.startup()  # getMe answered
            health, ready = await client.get("/healthz"), await client.get("/readyz")
        assert (health.status_code, health.text, ready.status_code) == (200, "ok", 200)
        assert ready.json() == {"database": "ok", "telegram": "ok"}
    finally:
        server.shutdown()
        server.server_close()

    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    bare = Services(Database(empty), tg_settings.model_copy(update={"database_url": empty}))
    try:
        async with client_for(web_for(bare, tg_settings)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["database"].startswith("schema not at head")
    finally:
        await bare.db.dispose()

    gone = "sqlite+aiosqlite:////nonexistent-dir/x.db"
    away = Services(Database(gone), tg_settings.model_copy(update={"database_url": gone}))
    try:
        async with client_for(web_for(away, tg_settings)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["database"].startswith("unreachable")
    finally:
        await away.db.dispose()


def test_serve_needs_the_webhook_secret(tg_services: Services, tg_settings: Settings) -> None:
    from bot.kernel.settings import SettingsError

    web = Web(tg_services, Pipeline(tg_services, {}, concurrency=1, lease=30))
    with pytest.raises(SettingsError, match="LOVEBANK_WEBHOOK_SECRET"):
        setup(web, tg_settings)


async def test_metrics_on_the_internal_app_only_match_the_database(
    tg_services: Services, tg_settings: Settings
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from bot.messages.notify import notify
    from bot.runtime import metrics

    person, _ = await tg_services.run(tg_services.people.identify, "telegram", "7", display_name="a")
    web = web_for(tg_services, tg_settings)
    async with client_for(web) as client:
        for n in (1, 2, 3):
            assert (await client.post("/telegram", json=update(n), headers={SECRET_HEADER: SECRET})).status_code == 200
        assert (await client.get("/metrics")).status_code == 404  # never on the public app
    await tg_services.db.run(tg_services.db.transaction, lambda s: notify(s, tg_services.clock, person.id, "lang.set"))
    metrics.turn_finished("telegram", 0.03)
    metrics.breaker_changed("wechat", "open")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web.metrics_app()), base_url="http://in"
    ) as internal:
        scraped = await internal.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    with tg_services.db.read() as session:
        new = session.scalar(
            select(func.count())
            .select_from(InboxEntry)
            .where(InboxEntry.channel == "telegram", InboxEntry.status == "new")
        )
    assert new == 3 and samples[("lovebank_inbox_backlog", (("channel", "telegram"), ("state", "new")))] == 3
    assert samples[("lovebank_inbox_oldest_age_seconds", (("channel", "telegram"),))] >= 0
    waiting = [
        v
        for (name, labels), v in samples.items()
        if name == "lovebank_outbox_notifications" and ("kind", "lang.set") in labels and ("state", "waiting") in labels
    ]
    assert waiting == [1]
    assert samples[("lovebank_breaker_state", (("channel", "wechat"), ("state", "open")))] == 1
    assert samples[("lovebank_turn_seconds_count", (("channel", "telegram"),))] >= 1


def test_json_log_lines_parse_with_level_logger_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from bot.kernel import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.setup("json")
        token = logs.request_id.set("in42")
        logging.getLogger("lovebank.test").warning("parked: %s", "boom")
        logs.request_id.reset(token)
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("lovebank.test").exception("failed")
    finally:
        root.handlers[:], root.level = saved
    first, second = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (first["level"], first["logger"], first["request_id"], first["message"]) == (
        "WARNING",
        "lovebank.test",
        "in42",
        "parked: boom",
    )
    assert second["request_id"] == "-" and "ValueError: bad" in second["exception"]
