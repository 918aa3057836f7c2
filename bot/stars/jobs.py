"""Monday 09:00: last week's star list; the 1st at 09:00: last month's — to every community's
announcement groups, in the community's time zone and language."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "star-list",
    at=time(9, 0),
    help=(
        "post last week's (Mondays) and last month's (the 1st) star lists to the groups; --period week|month forces one"
    ),
)
async def star_list(services: Services, now: datetime, options: dict[str, Any]) -> str:
    # Runs daily; the service decides, per community's own date, whether a week or a month has
    # just ended. Each group gets each period once, even across restarts and processes.
    period = options.get("period")
    if period not in (None, "week", "month"):
        return Summary("jobs.star_list_period", period=repr(period))
    posted = await services.run(services.stars.post, now, period)
    return Summary("jobs.star_list", posted=posted.posted, already=posted.already, empty=posted.empty)
