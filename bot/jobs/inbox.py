"""Forget handled updates once no platform would send them again (Telegram keeps an update for
24 hours, WeChat retries within seconds); a week is kept for looking into what happened."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services

KEEP = timedelta(days=7)


@job("inbox-prune", every=timedelta(hours=6), help="every 6 hours: forget handled updates older than a week")
async def inbox_prune(services: Services, now: datetime, options: dict[str, Any]) -> str:
    return Summary("jobs.inbox_prune", count=await services.inbox.prune(KEEP))
