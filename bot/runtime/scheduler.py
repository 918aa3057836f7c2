"""Scheduled jobs (bot.jobs) on APScheduler in the operator's time zone, run only by the leader.

With several processes exactly one runs the scheduler: on PostgreSQL the one holding a session
advisory lock (`Leader`); if it dies its connection closes, the lock goes with it, and another
process takes it at its next try (every `retry` seconds, 10 by default, so well within a minute).
The per-period claims in `job_runs` stay as a safety net: even two schedulers at once (a leader
cut off from the database while it still runs) never post the same period twice. On SQLite there
is one process, and it leads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bot import jobs
from bot.kernel.clock import same_week, wall_now
from bot.kernel.db import sync_url
from bot.services import Services

log = logging.getLogger(__name__)

LOCK_KEY = 0x4C6F7665  # the advisory lock's key ("Love")


def trigger(job: jobs.Job, tz: tzinfo) -> IntervalTrigger | CronTrigger | None:
    if job.every is not None:
        return IntervalTrigger(seconds=job.every.total_seconds(), timezone=tz)
    if job.at is not None:
        return CronTrigger(
            hour=job.at.hour,
            minute=job.at.minute,
            second=job.at.second,
            timezone=tz,
            day_of_week="*" if job.weekday is None else job.weekday,  # APScheduler counts Monday as 0 too
            day="*" if job.monthday is None else job.monthday,
        )
    return None


def catch_up(job: jobs.Job, now: datetime) -> bool:
    """Whether `job` should run at once when a process starts leading at `now` (local time):
    every sweep does; a timed job does when its last due time falls in the current period (today,
    this week, this month), so a leader that died at 08:29 still has the 08:30 reminders sent,
    while a start at 02:00 does not send today's reminders early."""
    if job.every is not None:
        return True
    if job.at is None:
        return False
    due = now.replace(hour=job.at.hour, minute=job.at.minute, second=job.at.second, microsecond=0)
    if job.weekday is not None:
        due = same_week(due, job.weekday)
    if job.monthday is not None:
        if now.day < job.monthday:
            return False
        due = due.replace(day=job.monthday)
    return due <= now


class Scheduler:
    """Every registered job on its schedule; `after_run` is told when one has run (the outbox
    worker sends what it wrote at once)."""

    def __init__(self, services: Services, tz: tzinfo, after_run: Callable[[], None] | None = None) -> None:
        self.services, self.tz, self.after_run = services, tz, after_run
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(timezone=self.tz)
        now = wall_now(self.tz)
        for job in jobs.load().values():
            when = trigger(job, self.tz)
            if when is None:
                log.warning("job %s has no schedule; run it with `lovebank jobs run %s`", job.name, job.name)
                continue
            # A new leader (a restart, or a take-over after the old one died) catches up at once:
            # the sweeps run now, and a daily job whose time today has passed runs now too. The
            # jobs' claims per period make a run that already happened a no-op.
            first = now if catch_up(job, now) else None
            scheduler.add_job(
                self._run,
                when,
                args=[job],
                id=job.name,
                name=job.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=300,
                **({"next_run_time": first} if first else {}),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: %s jobs", len(scheduler.get_jobs()))

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            log.info("scheduler stopped")

    async def _run(self, job: jobs.Job) -> None:
        try:
            summary = await job.run(self.services, self.services.clock.now(), {})
        except Exception:
            log.exception("job %s failed", job.name)
            return
        log.info("job %s: %s", job.name, summary)
        if self.after_run is not None:
            self.after_run()


class Leader:
    """Runs `scheduler` while this process holds the leader lock."""

    def __init__(self, url: str, scheduler: Scheduler, *, retry: float = 10.0) -> None:
        self.url, self.scheduler, self.retry = url, scheduler, retry
        self._stop = asyncio.Event()
        self._conn: AsyncConnection | None = None

    @property
    def leading(self) -> bool:
        return self.scheduler.running

    async def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if self.url.startswith("sqlite"):
            self.scheduler.start()
            await self._stop.wait()
            self.scheduler.stop()
            return
        # Its own connection outside any pool: the lock lives exactly as long as the connection.
        engine = create_async_engine(sync_url(self.url), poolclass=NullPool)  # psycopg, in its async mode
        try:
            while not self._stop.is_set():
                await self._step(engine)
                try:
                    await asyncio.wait_for(self._stop.wait(), self.retry)
                except TimeoutError:
                    pass
        finally:
            self.scheduler.stop()
            await self._release()
            await engine.dispose()

    async def _step(self, engine: Any) -> None:
        try:
            if self._conn is None:
                conn = await engine.connect()
                got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
                await conn.commit()  # a session lock outlives the transaction; no idle transaction held
                if not got:
                    await conn.close()
                    return
                self._conn = conn
                log.info("this process is the leader: it runs the scheduled jobs")
                self.scheduler.start()
            else:
                await self._conn.scalar(text("SELECT 1"))  # still connected, so still holding the lock
                await self._conn.commit()
        except Exception as exc:  # noqa: BLE001 - any failure loses the lock: stop the jobs, try again next round
            log.warning("leader: %s", exc)
            self.scheduler.stop()
            await self._release()

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()  # closing the connection releases the lock
            except Exception:  # noqa: BLE001, S110 - a broken connection is closed already; the lock went with it
                pass
