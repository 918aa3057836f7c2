"""Monday and the 1st at 09:00: the star list as a poster for the workers on WeChat, to forward
to their groups (WeChat Official Accounts cannot post into groups themselves)."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "star-poster",
    at=time(9, 0),
    help=(
        "send last week's (Mondays) and last month's (the 1st) star-list poster to the workers on WeChat; "
        "--period week|month forces one"
    ),
)
async def star_poster(services: Services, now: datetime, options: dict[str, Any]) -> str:
    period = options.get("period")
    if period not in (None, "week", "month"):
        return Summary("jobs.star_poster_period", period=repr(period))
    sent = await services.run(services.star_posters.send, now, period)
    return Summary("jobs.star_poster", sent=sent.sent, already=sent.already, empty=sent.empty)
