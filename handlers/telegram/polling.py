"""`lovebank run`: long polling without a web server, through the same inbox and workers as
`lovebank serve`.

Telegram's getUpdates confirms a batch when it is asked for the next offset, so this loop asks
for the next offset only after the batch was committed to the inbox: a process killed right after
a fetch gets the same batch again at the next start, and the inbox knows what it already has.
(python-telegram-bot's Updater asks for the next batch before the handlers have run, which lost
updates on a crash.) SIGINT/SIGTERM: the last batch is confirmed, what is in flight finishes, and
the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.kernel.settings import Settings, SettingsError
from bot.runtime.app import open_services, settle_memory
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.telegram.inbound import TelegramChannel, sender_of
from handlers.telegram.menus import Menu
from handlers.telegram.webhook import ALLOWED_UPDATES, keep_menus, make_bot, start_bot

log = logging.getLogger(__name__)

LONG_POLL = 10  # seconds Telegram may hold a getUpdates open
BATCH = 100


async def fetch(bot: Any, offset: int | None, timeout: int) -> list[dict[str, Any]]:
    """One getUpdates, as the JSON Telegram sent (the inbox stores it as it came)."""
    updates = await bot.get_updates(
        offset=offset, limit=BATCH, timeout=timeout, allowed_updates=ALLOWED_UPDATES, read_timeout=timeout + 10
    )
    return [update.to_dict() for update in updates]


async def store_batch(services: Services, batch: list[dict[str, Any]]) -> int | None:
    """Commit every update of the batch; the offset that confirms it (None for an empty batch)."""
    for payload in batch:
        await services.run(services.inbox.store, "telegram", str(payload["update_id"]), sender_of(payload), payload)
    return max(p["update_id"] for p in batch) + 1 if batch else None


async def poll(services: Services, settings: Settings) -> int:
    pipeline = Pipeline(services, {}, concurrency=settings.concurrency, lease=settings.lease_seconds)
    bot = make_bot(settings)
    channel = TelegramChannel(services, bot)
    pipeline.add(channel)
    menus: dict[str, Menu] = {}
    await start_bot(bot, services, menus, channel.dialogs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    background = asyncio.create_task(keep_menus(bot, services, menus))
    try:
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        pipeline.start()
        settle_memory()
        offset: int | None = None
        failures = 0
        while not stop.is_set():
            fetching = asyncio.create_task(fetch(bot, offset, LONG_POLL))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([fetching, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetching.done():
                fetching.cancel()  # nothing fetched yet, so nothing lost
                break
            try:
                batch = fetching.result()
            except RetryAfter as exc:
                after = exc.retry_after
                await asyncio.sleep(after.total_seconds() if hasattr(after, "total_seconds") else float(after))
                continue
            except InvalidToken:
                raise SettingsError("lovebank: Telegram refused LOVEBANK_TELEGRAM_TOKEN") from None
            except (NetworkError, TelegramError) as exc:
                failures += 1
                log.warning("getUpdates failed (%s); trying again", exc)
                await asyncio.sleep(min(2**failures, 30))
                continue
            failures = 0
            try:
                confirm = await store_batch(services, batch)
            except Exception:
                # Not committed: the batch is not confirmed either, so Telegram hands it out again.
                log.exception("a batch of updates could not be stored; fetching it again")
                await asyncio.sleep(1)
                continue
            if confirm is not None:
                offset = confirm
                pipeline.inbox.wake()
        if offset is not None:  # confirm the last stored batch, so a restart does not fetch it again
            try:
                await fetch(bot, offset, 0)
            except TelegramError as exc:
                log.warning("the last batch was not confirmed (%s); the inbox will know it again", exc)
    finally:
        background.cancel()
        await pipeline.stop()
        await bot.shutdown()
    return 0


def run(settings: Settings) -> int:
    from handlers.serve import quiet_logging

    make_bot(settings)  # a missing token stops here, with one line
    quiet_logging(settings.log_format)

    async def main() -> int:
        services = await open_services(settings)
        try:
            return await poll(services, settings)
        finally:
            await services.db.dispose()

    return asyncio.run(main())
