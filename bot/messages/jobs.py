"""Forget what people wrote once no platform would send it again (Telegram keeps an update for
24 hours, WeChat retries within seconds): handled updates are deleted after
LOVEBANK_INBOX_KEEP_DAYS (a week by default, for looking into what happened), and parked ones
keep only their record (who, when, the error), not the message or its reply."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job("inbox-prune", every=timedelta(hours=6), help="every 6 hours: forget handled updates older than a week")
async def inbox_prune(services: Services, now: datetime, options: dict[str, Any]) -> str:
    deleted, cleared = await services.run(services.inbox.prune, timedelta(days=services.settings.inbox_keep_days))
    return Summary("jobs.inbox_prune", count=deleted, cleared=cleared)
