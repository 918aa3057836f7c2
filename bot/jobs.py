"""Scheduled jobs: plain service calls, registered by the feature modules listed in JOB_MODULES and
scheduled by PTB's JobQueue (or run at once with `lovebank jobs run NAME`).

A job claims its period by inserting a `job_runs` row inside the same transaction as its effects,
so a restart or a second process never runs the same period twice."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Self

from bot.kernel.i18n import T, Text, render

if TYPE_CHECKING:
    from bot.services import Services

JobFn = Callable[["Services", datetime, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFn  # (services, now, options) → a one-line summary of what it did
    every: timedelta | None = None  # run at this interval
    at: time | None = None  # or daily at this local time (LOVEBANK_TIMEZONE) ...
    weekday: int | None = None  # ... only on this weekday (0 = Monday)
    monthday: int | None = None  # ... only on this day of the month
    help: str = ""


class Summary(str):
    """A job's one-line summary: English as the string itself (for the logs), and the catalogue
    text (`jobs.json`) for an operator's own language (`lovebank jobs run`)."""

    text: Text

    def __new__(cls, key: str, **params: Any) -> Self:
        summary = super().__new__(cls, render("en", key, params))
        summary.text = T(key, **params)
        return summary


def said(locale: str, summary: str) -> str:
    """A job's summary in `locale` (a plain string is shown as it is)."""
    return render(locale, summary.text.key, summary.text.params) if isinstance(summary, Summary) else summary


def described(locale: str, job: Job) -> str:
    """What a job does, in `locale` (its `help` where the catalogue has nothing)."""
    try:
        return render(locale, f"jobs.help.{job.name}")
    except KeyError:
        return job.help


JOBS: dict[str, Job] = {}
# Every module that registers jobs (each part's jobs.py) (with `@job`): what runs is what is listed.
# Loaded on demand, since a job module pulls in its services and the chat never needs them.
JOB_MODULES = (
    "bot.deadlines.jobs",
    "bot.expiry.jobs",
    "bot.messages.jobs",
    "bot.stars.poster_jobs",
    "bot.privacy.jobs",
    "bot.requests.jobs",
    "bot.shop.jobs",
    "bot.stars.jobs",
    "bot.visits.jobs",
)


def job(name: str, **schedule: Any) -> Callable[[JobFn], JobFn]:
    def register(fn: JobFn) -> JobFn:
        if name in JOBS:
            raise ValueError(f"job {name} registered twice")
        JOBS[name] = Job(name, fn, **schedule)
        return fn

    return register


def load() -> dict[str, Job]:
    for name in JOB_MODULES:
        importlib.import_module(name)
    return JOBS
