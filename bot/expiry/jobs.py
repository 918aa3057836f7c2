"""Points expiry: daily, so that each notice goes out 30 days before its expiry date; the
expiry itself happens once a month (the 1st, community time), each period claimed per community."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "expire-points",
    at=time(1, 0),
    help=(
        "daily: tell people 30 days before their points expire; on the 1st expire the points due "
        "(communities with /expiry set)"
    ),
)
async def expire_points(services: Services, now: datetime, options: dict[str, Any]) -> str:
    run = await services.run(services.expiry.run, now)
    return Summary("jobs.expire_points", points=run.expired_points, people=run.expired_people, notices=run.noticed)
