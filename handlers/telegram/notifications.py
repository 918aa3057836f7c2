"""The notifications pump: what the services queued for people on Telegram goes out here, in
each person's language. The outbox marks rows delivered as they are taken, so a failed send is
logged and not retried (a person who blocked the bot would otherwise block the queue)."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import TelegramError

from bot.i18n import render
from bot.services import Services

log = logging.getLogger(__name__)

INTERVAL = 2.0  # seconds between runs


async def deliver(bot: Bot, services: Services) -> int:
    """Send what is due now; returns how many messages went out."""
    sent = 0
    for delivery in await services.outbox.take("telegram"):
        try:
            text = render(delivery.locale, delivery.text.key, delivery.text.params)
            await bot.send_message(delivery.address, text)
            sent += 1
        except (TelegramError, KeyError, ValueError) as exc:
            log.warning("notification %s to person %s not sent: %s", delivery.text.key, delivery.person_id, exc)
    return sent
