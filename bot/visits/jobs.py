"""The visit jobs: the 08:30 reminders and the 2-hour escalation of unacknowledged alerts."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.jobs import Summary, job

if TYPE_CHECKING:
    from bot.services import Services


@job("reminders", at=time(8, 30), help="08:30: each worker's and volunteer's visits and calls due today and overdue")
async def reminders(services: Services, now: datetime, options: dict[str, Any]) -> str:
    report = await services.run(services.visits.morning)
    return Summary(
        "jobs.reminders", communities=report.communities, messages=report.messages, overdue=report.long_overdue
    )


@job("alert-escalation", every=timedelta(minutes=5), help="tell the admins of help alerts unacknowledged for 2 hours")
async def alert_escalation(services: Services, now: datetime, options: dict[str, Any]) -> str:
    return Summary("jobs.alert_escalation", count=await services.run(services.visits.escalate_alerts))
