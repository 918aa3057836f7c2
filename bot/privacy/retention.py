"""Elders' visit records are sensitive (whereabouts, health): past the retention
(LOVEBANK_VISIT_RETENTION_YEARS, 3 by default) a daily job clears what a record said (its note,
photo and place). That the visit happened, when and by whom stays, since the volunteer's hours,
the elder's visit calendar and the community's figures count it. Each community's day is claimed
once, so a second process or a rerun changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database, claim, rowcount
from bot.kernel.settings import Settings
from models import Community, VisitRecord

JOB = "visit-retention"


@dataclass(frozen=True)
class Run:
    communities: int
    records: int


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


class RetentionService:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    def anonymise_visits(self, now: datetime | None = None) -> Run:
        now = now or self.clock.now()
        cutoff = years_before(now, self.settings.visit_retention_years)

        def work(session: Session) -> Run:
            communities = records = 0
            for community_id, zone in session.execute(select(Community.id, Community.timezone).order_by(Community.id)):
                today = self.clock.community(zone).date_of(now)
                if not claim(session, JOB, str(community_id), today.isoformat(), now):
                    continue
                v = VisitRecord
                done = rowcount(
                    session.execute(
                        update(v)
                        .where(v.community_id == community_id, v.at < cutoff, v.anonymised_at.is_(None))
                        .values(note=None, photo=None, lat=None, lon=None, anonymised_at=now)
                        .execution_options(synchronize_session=False)
                    )
                )
                communities += 1
                records += done or 0
            return Run(communities, records)

        return self.db.transaction(work)
