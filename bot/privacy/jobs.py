"""Visit records past the retention lose their note, photo and place (daily, each community's
day claimed once)."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job(
    "visit-retention",
    at=time(3, 30),
    help="daily: visit records older than LOVEBANK_VISIT_RETENTION_YEARS lose their note, photo and place",
)
async def visit_retention(services: Services, now: datetime, options: dict[str, Any]) -> str:
    run = await services.run(services.retention.anonymise_visits, now)
    return Summary("jobs.visit_retention", communities=run.communities, records=run.records)
