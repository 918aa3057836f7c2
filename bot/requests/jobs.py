"""Service request jobs: untaken requests expire after their day (holds given back), and the
morning reminders for the volunteers who take requests today, for the workers, and for both sides
of a taken request whose time is over and that nobody marked done."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "expire-requests",
    every=timedelta(hours=1),
    help="every hour: requests nobody took by their day expire and their held points go back",
)
async def expire_requests(services: Services, now: datetime, options: dict[str, Any]) -> str:
    return Summary("jobs.expire_requests", count=await services.run(services.requests.expire))


@job(
    "request-reminders",
    at=time(8, 30),
    help="08:30: volunteers hear of the requests they take today; workers of requests untaken for 2 days; "
    "both sides of a taken request past its time and not marked done are asked to close it",
)
async def request_reminders(services: Services, now: datetime, options: dict[str, Any]) -> str:
    sent = await services.run(services.requests.morning)
    return Summary("jobs.request_reminders", communities=sent.communities, messages=sent.messages)
