"""Every job registered in bot.jobs, scheduled on PTB's JobQueue in the operator's time zone.
The jobs claim their periods in the database, so a restart or a second process never runs the
same period twice; this module only decides when to call them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any

from telegram.ext import Job as PTBJob
from telegram.ext import JobQueue

from bot import jobs

log = logging.getLogger(__name__)


def ptb_days(weekday: int | None) -> tuple[int, ...]:
    """bot.jobs counts Monday as 0; PTB's run_daily counts Sunday as 0."""
    return tuple(range(7)) if weekday is None else ((weekday + 1) % 7,)


def runner(job: jobs.Job, tz: tzinfo) -> Callable[[Any], Awaitable[None]]:
    async def run(context: Any) -> None:
        services = context.bot_data.services
        now = services.clock.now()
        if job.monthday is not None and now.astimezone(tz).day != job.monthday:
            return  # PTB runs it daily; only this day of the month counts
        try:
            summary = await job.run(services, now, {})
        except Exception:
            log.exception("job %s failed", job.name)
            return
        log.info("job %s: %s", job.name, summary)

    run.__name__ = f"job_{job.name}"
    return run


def schedule_jobs(job_queue: JobQueue[Any], tz: tzinfo) -> list[PTBJob[Any]]:
    scheduled = []
    for job in jobs.load().values():
        callback = runner(job, tz)
        if job.every is not None:
            scheduled.append(job_queue.run_repeating(callback, interval=job.every, name=job.name))
        elif job.at is not None:
            at = job.at.replace(tzinfo=tz)
            scheduled.append(job_queue.run_daily(callback, time=at, days=ptb_days(job.weekday), name=job.name))
        else:
            log.warning("job %s has no schedule; run it with `lovebank jobs run %s`", job.name, job.name)
    return scheduled
