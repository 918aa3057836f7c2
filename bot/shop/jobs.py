"""Hold expiry for the love supermarket: redemptions not handed over in time give their goods
and points back. Each redemption is claimed in its own transaction, so no period claim is
needed: running it twice, or on two processes, expires each redemption once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "expire-holds",
    every=timedelta(hours=1),
    help="every hour: redemptions not picked up within LOVEBANK_HOLD_EXPIRY_DAYS expire (points and goods go back)",
)
async def expire_holds(services: Services, now: datetime, options: dict[str, Any]) -> str:
    expired = await services.run(services.shop.expire_holds, now)
    return Summary("jobs.expire_holds", count=expired)
