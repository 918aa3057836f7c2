"""`lovebank serve`: the web app on LOVEBANK_HTTP_HOST:LOVEBANK_HTTP_PORT with its workers.

Each configured channel adds its endpoint and its handler/sender here (Telegram when
LOVEBANK_TELEGRAM_TOKEN is set). Port 0 picks a free port; the log says which.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import uvicorn

from bot.app import open_services
from bot.pipeline import Pipeline
from bot.settings import Settings, SettingsError

log = logging.getLogger("lovebank.serve")


def quiet_logging() -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # httpx logs every request URL, and the Bot API URL carries the token; APScheduler logs every run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    quiet_logging()
    return asyncio.run(_serve(settings))


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    # uvicorn's access log prints each URL with its query string (WeChat's signature and nonce):
    # off; the app logs its own lines without them (handlers.access_log).
    return uvicorn.Config(app, host=settings.http_host, port=settings.http_port, lifespan="on",
                          log_config=None, access_log=False, timeout_graceful_shutdown=30)


async def _serve(settings: Settings) -> int:
    from handlers.web import Web

    services = await open_services(settings)
    pipeline = Pipeline(services, {}, concurrency=settings.concurrency, lease=settings.lease_seconds)
    web = Web(services, pipeline)
    try:
        if settings.telegram_token is not None and settings.telegram_token.get_secret_value().strip():
            from handlers.telegram.webhook import setup as setup_telegram

            setup_telegram(web, settings)
        if settings.wechat_token is not None and settings.wechat_token.get_secret_value().strip():
            from handlers.wechat.webhook import setup as setup_wechat

            setup_wechat(web, settings)
        if not pipeline.channels:
            raise SettingsError("lovebank: no channel configured (set LOVEBANK_TELEGRAM_TOKEN or LOVEBANK_WECHAT_TOKEN)")
        from handlers.downloads import setup as setup_downloads

        setup_downloads(web)
        from handlers.verify import setup as setup_verify

        setup_verify(web)
        await web.startup()
    except BaseException:
        await services.db.dispose()
        raise
    if services.db.sqlite:
        log.info("SQLite: run one `lovebank serve` process (several need PostgreSQL)")
    server = uvicorn.Server(server_config(web.app(), settings))
    # uvicorn re-raises the signal that stopped it once it has shut down cleanly; with these
    # handlers in place that is a no-op, so SIGTERM ends the process with 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    running = asyncio.create_task(server.serve())
    while not server.started and not running.done():
        await asyncio.sleep(0.05)
    if server.started:
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        log.info("listening on http://%s:%s", host, port)
    try:
        await running
    finally:
        await web.shutdown()
    return 0 if server.started else 1
