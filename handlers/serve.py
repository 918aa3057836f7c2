"""`lovebank serve`: the web app on LOVEBANK_HTTP_HOST:LOVEBANK_HTTP_PORT with its workers.

Each configured channel adds its endpoint and its handler/sender here (Telegram when
LOVEBANK_TELEGRAM_TOKEN is set, WeChat when LOVEBANK_WECHAT_TOKEN is); one that cannot be
reached at start does not stop the others. Port 0 picks a free port; the log says which. With
LOVEBANK_METRICS_PORT set, `GET /metrics` is served on that port alone (for Prometheus on the
internal network; the public app has no `/metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from bot.kernel.settings import Settings, SettingsError
from bot.runtime.app import open_services, settle_memory
from bot.runtime.pipeline import Pipeline

log = logging.getLogger("lovebank.serve")


@contextlib.contextmanager
def _keep_signals() -> Iterator[None]:
    """In place of uvicorn's `capture_signals` for the internal server: the main one keeps them."""
    yield


def quiet_logging(log_format: str = "text") -> None:
    from bot.kernel import logs

    logs.setup(log_format)
    # httpx logs every request URL, and the Bot API URL carries the token; APScheduler logs every run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    quiet_logging(settings.log_format)
    return asyncio.run(_serve(settings))


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    # uvicorn's access log prints each URL with its query string (WeChat's signature and nonce):
    # off; the app logs its own lines without them (handlers.access_log).
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


async def _serve(settings: Settings) -> int:
    from handlers.web import Web

    services = await open_services(settings)
    pipeline = Pipeline(services, {}, concurrency=settings.concurrency, lease=settings.lease_seconds)
    web = Web(services, pipeline)
    try:
        configured = False
        if settings.telegram_token is not None and settings.telegram_token.get_secret_value().strip():
            from handlers.telegram.webhook import setup as setup_telegram

            setup_telegram(web, settings)  # joins the workers once the Bot API answers
            configured = True
        if settings.wechat_token is not None and settings.wechat_token.get_secret_value().strip():
            from handlers.wechat.webhook import setup as setup_wechat

            setup_wechat(web, settings)
            configured = True
        if not configured:
            raise SettingsError(
                "lovebank: no channel configured (set LOVEBANK_TELEGRAM_TOKEN or LOVEBANK_WECHAT_TOKEN)"
            )
        from handlers.downloads import setup as setup_downloads

        setup_downloads(web)
        from handlers.verify import setup as setup_verify

        setup_verify(web)
        from handlers.desk import setup as setup_desk

        setup_desk(web)
        await web.startup()
    except BaseException:
        await services.db.dispose()
        raise
    if services.db.sqlite:
        log.info("SQLite: run one `lovebank serve` process (several need PostgreSQL)")
    server = uvicorn.Server(server_config(web.app(), settings))
    internal = None
    if settings.metrics_port is not None:  # `/metrics` on its own port, never on the public app
        internal = uvicorn.Server(
            uvicorn.Config(
                web.metrics_app(),
                host=settings.http_host,
                port=settings.metrics_port,
                lifespan="off",
                log_config=None,
                access_log=False,
            )
        )
        # Signals stay with the main server (it would lose SIGTERM otherwise); it stops this one.
        internal.capture_signals = _keep_signals  # type: ignore[method-assign]  # replacing uvicorn's method on purpose
    # uvicorn re-raises the signal that stopped it once it has shut down cleanly; with these
    # handlers in place that is a no-op, so SIGTERM ends the process with 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    running = asyncio.create_task(server.serve())
    metrics = asyncio.create_task(internal.serve()) if internal is not None else None
    while not server.started and not running.done():
        await asyncio.sleep(0.05)
    if server.started:
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        log.info("listening on http://%s:%s", host, port)
        settle_memory()
    if internal is not None and metrics is not None:
        while not internal.started and not metrics.done():
            await asyncio.sleep(0.05)
        if internal.started:
            host, port = internal.servers[0].sockets[0].getsockname()[:2]
            log.info("metrics on http://%s:%s/metrics", host, port)
    try:
        await running
    finally:
        if internal is not None and metrics is not None:
            internal.should_exit = True
            await asyncio.gather(metrics, return_exceptions=True)
        await web.shutdown()
    return 0 if server.started else 1
