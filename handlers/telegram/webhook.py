"""Telegram in `lovebank serve`: `POST /telegram` (the webhook) and the Telegram channel on the
workers.

The webhook checks `X-Telegram-Bot-Api-Secret-Token` against LOVEBANK_WEBHOOK_SECRET (403, a
WARNING and nothing stored otherwise), reads at most MAX_BODY bytes (413) of JSON nested at most
MAX_JSON_DEPTH deep (400), commits the update to the inbox and only then answers 200, so an
update Telegram was told we have is never lost; Telegram's retry of an update we already have is
a duplicate and changes nothing. At start the bot learns its name (getMe), registers the webhook
(LOVEBANK_WEBHOOK_URL + /telegram with the secret; a failure is logged, not fatal) and sets the
command menus; only then does the channel join the workers. A Bot API that cannot be reached (or
refuses the token) at start does not stop the process: the other channels serve, and Telegram's
start is retried in the background (LOVEBANK_OUTAGE_PROBE_SECONDS, doubling up to
LOVEBANK_OUTAGE_PROBE_MAX_SECONDS); updates posted meanwhile wait in the inbox. /readyz shows
getMe's answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from telegram import Update
from telegram.error import EndPointNotFound, InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import BaseRequest, HTTPXRequest

from bot.dialogs.engine import Dialogs
from bot.kernel.settings import Settings, SettingsError
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.inbound import StatusRequest, TelegramChannel, sender_of
from handlers.telegram.menus import Menu, set_menus
from handlers.telegram.transport import StreamRequest
from handlers.web import Web, client_error, json_body, read_body, refused

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
MENU_REFRESH = 3600.0  # seconds; newly appointed workers get their menu within the hour
MAX_BODY = 1024 * 1024  # an update is a few kB; a message with a long quote and entities far less than this
START_WAIT = 15.0  # seconds the first getMe may take before the other channels start without Telegram
MISSING_TOKEN = "lovebank: LOVEBANK_TELEGRAM_TOKEN is not set (the bot token from @BotFather)"


def file_api_url(api_url: str) -> str:
    """https://api.telegram.org/bot → https://api.telegram.org/file/bot (same for a local server)."""
    base, sep, last = api_url.rstrip("/").rpartition("/")
    return f"{base}/file/{last}" if sep else f"{api_url}/file"


def make_bot(settings: Settings, transport: BaseRequest | None = None) -> ExtBot[Any]:
    """The Bot API client of a worker process: Telegram's flood limits held by PTB's
    AIORateLimiter (LOVEBANK_TELEGRAM_MAX_RATE messages a second, 20 a minute per group); a 429
    that still comes back is not retried here but handed to the inbox or outbox as
    Retry(retry_after). `transport`: the HTTP requests underneath (tests and benchmarks give a
    recording Bot API); by default the workers' sends go over `StreamRequest` (a fraction of
    httpx's CPU a call) and long polling over python-telegram-bot's HTTPXRequest."""
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise SettingsError(MISSING_TOKEN)
    api = settings.telegram_api_url.rstrip("/")
    # PTB's default is one connection: every send would queue behind the one before it.
    pool = max(8, 2 * settings.concurrency)
    limiter = AIORateLimiter(max_retries=0, overall_max_rate=settings.telegram_max_rate)
    return ExtBot(
        token,
        base_url=api,
        base_file_url=file_api_url(api),
        rate_limiter=limiter,
        request=StatusRequest(transport or StreamRequest(pool, pool_timeout=30.0)),
        get_updates_request=transport or HTTPXRequest(connection_pool_size=1),
    )


async def start_bot(bot: ExtBot[Any], services: Services, menus: dict[str, Menu], dialogs: Dialogs) -> None:
    """getMe (the deep links and group commands need the name), then the menus."""
    try:
        await bot.initialize()
    except InvalidToken:
        raise SettingsError("lovebank: Telegram refused LOVEBANK_TELEGRAM_TOKEN") from None
    except TelegramError as exc:
        raise SettingsError(f"lovebank: cannot reach the Bot API at LOVEBANK_TELEGRAM_API_URL: {exc}") from None
    dialogs.invites.link = f"https://t.me/{bot.username}?start={{code}}"
    log.info("Telegram bot @%s is up", bot.username)
    await refresh_menus(bot, services, menus)


async def refresh_menus(bot: ExtBot[Any], services: Services, menus: dict[str, Menu]) -> None:
    try:
        await set_menus(bot, services, menus)
    except Exception:
        log.exception("command menus not set")


async def keep_menus(bot: ExtBot[Any], services: Services, menus: dict[str, Menu]) -> None:
    while True:
        await asyncio.sleep(MENU_REFRESH)
        await refresh_menus(bot, services, menus)


def setup(web: Web, settings: Settings, transport: BaseRequest | None = None) -> TelegramChannel:
    services, pipeline = web.services, web.pipeline
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise SettingsError("lovebank: LOVEBANK_WEBHOOK_SECRET is not set (Telegram sends it with every update)")
    bot = make_bot(settings, transport)
    channel = TelegramChannel(services, bot)
    menus: dict[str, Menu] = {}
    background: list[asyncio.Task[None]] = []
    started: list[str] = []  # why Telegram has not started yet; empty once it has

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return refused(log, "Telegram", "bad secret token")
        body = await read_body(request, MAX_BODY)
        if body is None:
            return client_error(413, "too large")
        return await take_in(services, pipeline, json_body(body))

    async def get_me() -> str | None:
        try:
            await start_bot(bot, services, menus, channel.dialogs)
        except SettingsError as exc:  # a SystemExit: asyncio must not see it leave a task
            return str(exc.code).removeprefix("lovebank: ")
        return None

    async def start() -> str | None:
        """Start the channel; None when it is up, else why not."""
        try:
            error = await asyncio.wait_for(get_me(), START_WAIT)
        except TimeoutError:
            return "no answer from the Bot API at LOVEBANK_TELEGRAM_API_URL"
        if error is not None:
            return error
        await register_webhook(bot, settings, secret)
        pipeline.add(channel)
        background.append(asyncio.create_task(keep_menus(bot, services, menus)))
        return None

    async def keep_starting(wait: float) -> None:
        while True:
            await asyncio.sleep(wait)
            error = await start()
            if error is None:
                started.clear()
                log.warning("telegram: the Bot API answers: the channel is started")
                return
            started[:] = [error]
            wait = min(wait * 2, settings.outage_probe_max_seconds)

    async def startup() -> None:
        error = await start()
        if error is not None:
            started[:] = [error]
            log.warning("telegram: not started (%s): serving the other channels, retrying in the background", error)
            background.append(asyncio.create_task(keep_starting(settings.outage_probe_seconds)))

    async def check() -> str:
        if started:
            return f"not started: {started[0]}"
        try:
            await bot.get_me()
        except (InvalidToken, EndPointNotFound):
            return "token refused"
        except TelegramError as exc:
            return f"unreachable ({exc})"
        return "ok"

    async def shutdown() -> None:
        for task in background:
            task.cancel()
        await bot.shutdown()

    web.route("/telegram", webhook, methods=["POST"])
    web.on_startup(startup)
    web.check("telegram", check)
    web.on_shutdown(shutdown)
    return channel


async def take_in(services: Services, pipeline: Pipeline, payload: Any) -> Response:
    update_id = payload.get("update_id") if isinstance(payload, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return client_error(400, "not a Telegram update")
    worker = pipeline.inbox
    lease = worker.lease_at_store("telegram")  # a free hand: the store leases the update to it
    try:
        stored = await services.run(
            services.inbox.store, "telegram", str(update_id), sender_of(payload), payload, lease
        )
    except Exception as exc:  # noqa: BLE001 - not stored for any reason: Telegram must try again, so no 200
        if lease is not None:
            worker.stored(None)
        log.error("update %s not stored: %s", update_id, exc)
        return client_error(503, "try again")
    if lease is not None:
        worker.stored(stored.entry)
    else:
        worker.wake()
    return Response(status_code=200)


async def register_webhook(bot: ExtBot[Any], settings: Settings, secret: str) -> None:
    if not settings.webhook_url:
        log.warning("LOVEBANK_WEBHOOK_URL is not set: the webhook is not registered with Telegram")
        return
    url = settings.webhook_url.rstrip("/") + "/telegram"
    try:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        log.info("webhook registered: %s", url)
    except TelegramError as exc:
        log.error("webhook not registered at %s: %s", url, exc)
