"""上不过午，下不过夜: every 5 minutes, each community's nudge in the hour before a deadline and
the admins' digest once a deadline has passed; each once per community and deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "deadlines",
    every=timedelta(minutes=5),
    help="nudge workers an hour before 12:00 and the evening deadline; tell the admins what is still waiting after it",
)
async def deadlines(services: Services, now: datetime, options: dict[str, Any]) -> str:
    run = await services.run(services.deadlines.run, now)
    return Summary("jobs.deadlines", nudges=run.nudges, digests=run.digests)
