"""The notifications pump of the in-process Application: what the services queued for people on
Telegram goes out here, in each person's language, through the same claim → send → mark path as
the outbox worker (`bot.pipeline.OutboxWorker`): a failed send is retried later, a person who
blocked the bot is marked unreachable, and nothing is marked delivered before it was sent."""

from __future__ import annotations

import logging

from telegram import Bot

from bot.pipeline import worker_name
from bot.services import Services
from bot.services.delivery import Sent
from handlers.telegram.inbound import TelegramChannel

log = logging.getLogger(__name__)

INTERVAL = 2.0  # seconds between runs


async def deliver(bot: Bot, services: Services) -> int:
    """Send what is due now; returns how many messages went out."""
    channel = TelegramChannel(services, bot)
    sent = 0
    for delivery in await services.run(services.outbox.claim, "telegram", worker_name()):
        outcome = await channel.deliver(delivery)
        parked = await services.run(services.outbox.record, delivery, outcome)
        if isinstance(outcome, Sent):
            sent += 1
        else:
            log.warning("notification %s to person %s not sent%s: %s", delivery.text.key, delivery.person_id,
                        ", parked" if parked else "", outcome)
    return sent
