"""Points expiry: a community may let points expire a number of months after they were earned
(hours never expire). Points are lots by the month they came in (in the community's time zone);
spending takes the oldest first, and held points are never what expires.

Points that came in during month L expire on the 1st of month L + N. The daily job tells each
person, once, 30 days before an expiry date how many points will expire then (as /balance
counts them: held points apart, with how many of those would expire too if a hold were
released), and on the 1st of the month expires them as a
ledger transfer to the community's expiry account, keyed by person and month. A month whose
notice was never sent (expiry just turned on) expires nothing: those points expire a month
later, after their notice.

Each person expires in a transaction of their own, under their account's row lock (PostgreSQL;
SQLite's writer is serial), from what is left at that moment: a gift or a redemption at the
same time comes wholly before or wholly after, and one person's failure is logged and stops no
one else. The month is claimed once everyone went through; until then the next run retries,
and people already expired are skipped by their transfer's key."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.family.service import members_of
from bot.kernel.access import get_community, require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, add_months, day_start, days_after, local_date, month_start, zone
from bot.kernel.db import Database, claim, reads
from bot.kernel.errors import InvalidInput
from bot.ledger.service import Ledger, Lots
from bot.messages.notify import notify
from models import Community, JobRun

log = logging.getLogger(__name__)

MAX_MONTHS = 120
NOTICE_DAYS = 30
NOTICE_JOB, EXPIRE_JOB = "expiry-notice", "expire-points"


@dataclass(frozen=True)
class Expiring:
    amount: int
    on: date


@dataclass(frozen=True)
class ExpiryRun:
    noticed: int  # people told
    expired_people: int
    expired_points: int

    def __str__(self) -> str:
        return (
            f"expire-points: {self.expired_points} point(s) of {self.expired_people} person(s) expired, "
            f"{self.noticed} notice(s) sent"
        )


def month_label(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def cutoff(expires_on: date, months: int, tz: ZoneInfo) -> datetime:
    """Points that came in before this instant have expired by `expires_on` (a month's 1st)."""
    return day_start(add_months(expires_on, 1 - months), tz)


def next_expiring(lots: Lots, months: int, tz: ZoneInfo) -> Expiring | None:
    """The nearest expiry date of the points still there and how many expire on it."""
    taken = lots.spent + lots.held
    by_month: dict[date, int] = {}
    for at, amount in lots.credits:
        month = month_start(local_date(at, tz))
        by_month[month] = by_month.get(month, 0) + amount
    for month in sorted(by_month):
        left = by_month[month] - taken
        if left > 0:
            return Expiring(left, add_months(month, months))
        taken = -left
    return None


class ExpiryService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db, self.clock, self.ledger = db, clock, ledger

    def set_months(self, actor_id: int, community_id: int, months: int | None) -> None:
        """`/expiry 36` or `/expiry off`: workers and admins of the community."""
        if months is not None and not 1 <= months <= MAX_MONTHS:
            raise InvalidInput("error.bad_expiry_months", most=MAX_MONTHS)

        def work(session: Session) -> None:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            if community.points_expire_months != months:
                audit(
                    session,
                    self.clock,
                    "points.expiry",
                    actor_id,
                    community_id,
                    details={"months": months, "was": community.points_expire_months},
                )
                community.points_expire_months = months

        self.db.transaction(work)

    @reads
    def months(self, community_id: int) -> int | None:
        with self.db.read() as session:
            return (get_community(session, community_id)).points_expire_months

    @reads
    def next_for(self, person_id: int, community_id: int) -> Expiring | None:
        """What /balance shows: None when the community keeps points forever."""
        with self.db.read() as session:
            community = get_community(session, community_id)
            if not community.points_expire_months:
                return None
            lots = self.ledger.lots(session, community_id, person_id)
            return next_expiring(lots, community.points_expire_months, zone(community.timezone))

    # --- the daily job ------------------------------------------------------------------------

    def run(self, now: datetime, only: list[int] | None = None) -> ExpiryRun:
        """Every community with expiry set (or those of `only`): expiry person by person, then the
        notices in one transaction with their claims."""
        with self.db.read() as session:
            query = select(Community.id).where(Community.points_expire_months.is_not(None)).order_by(Community.id)
            if only is not None:
                query = query.where(Community.id.in_(only))
            communities = list(session.scalars(query))
        noticed = people = points = 0
        for community_id in communities:
            p, q = self._expire(community_id, now)
            n = self.db.transaction(partial(self._notices, community_id=community_id, now=now))
            noticed, people, points = noticed + n, people + p, points + q
        return ExpiryRun(noticed, people, points)

    def _expire(self, community_id: int, now: datetime) -> tuple[int, int]:
        """On a month's 1st (once its notice went out): each person on their own."""
        with self.db.read() as session:
            community = get_community(session, community_id)
            months, tz = community.points_expire_months, zone(community.timezone)
            if not months:
                return 0, 0
            month = month_start(local_date(now, tz))
            scope, label = str(community_id), month_label(month)
            ran = set(
                session.scalars(
                    select(JobRun.job).where(
                        JobRun.job.in_((NOTICE_JOB, EXPIRE_JOB)), JobRun.scope == scope, JobRun.period == label
                    )
                )
            )
            if NOTICE_JOB not in ran or EXPIRE_JOB in ran:
                return 0, 0
            before = cutoff(month, months, tz)
            # Who may have some: held points count here, as a hold may be released meanwhile.
            candidates = [p for p, _ in self.ledger.unspent_before(session, community_id, before, count_held=True)]
        people = points = 0
        failed = False
        for person_id in candidates:
            try:
                amount = self.db.transaction(
                    partial(
                        self._expire_person, community_id=community_id, person_id=person_id, before=before, month=month
                    )
                )
            except Exception:
                log.exception(
                    "points expiry: person %s of community %s not expired for %s; retried at the next run",
                    person_id,
                    community_id,
                    label,
                )
                failed = True
                continue
            if amount:
                people, points = people + 1, points + amount
        if not failed:
            self.db.transaction(lambda s: claim(s, EXPIRE_JOB, scope, label, now))
        return people, points

    def _expire_person(self, session: Session, community_id: int, person_id: int, before: datetime, month: date) -> int:
        """Under the person's lock: what is left of the points that came in before `before`."""
        self.ledger.lock_person(session, community_id, person_id)
        key = f"expire:{community_id}:{person_id}:{month_label(month)}"
        if self.ledger.prior(session, key) is not None:  # a run that stopped before its claim
            return 0
        amount = self.ledger.lots(session, community_id, person_id).left_before(before)
        if amount <= 0:
            return 0
        self.ledger.expire_points(session, community_id=community_id, person_id=person_id, amount=amount, key=key)
        self._tell(session, [(person_id, amount)], "expiry.notify.expired", month)
        return amount

    def _notices(self, session: Session, community_id: int, now: datetime) -> int:
        """The notices 30 days before the next expiry dates, with their period claims."""
        community = get_community(session, community_id)
        months = community.points_expire_months
        if not months:
            return 0
        tz = zone(community.timezone)
        today = local_date(now, tz)
        scope = str(community_id)
        noticed = 0
        # The next two month starts: 30 days before 1 March is still in January.
        for expires_on in (add_months(today, 1), add_months(today, 2)):
            if today < days_after(expires_on, -NOTICE_DAYS) or not claim(
                session, NOTICE_JOB, scope, month_label(expires_on), now
            ):
                continue
            # What expires then if nothing changes, counted as /balance counts it (held points
            # never expire), and apart what is on hold: a released hold may expire too, so
            # nothing ever expires that was not announced.
            before = cutoff(expires_on, months, tz)
            at_most = self.ledger.unspent_before(session, community_id, before, count_held=True)
            free = dict(self.ledger.unspent_before(session, community_id, before))
            soon = [(person_id, free.get(person_id, 0)) for person_id, _ in at_most]
            held = {person_id: most - free.get(person_id, 0) for person_id, most in at_most}
            self._tell(session, soon, "expiry.notify.soon", expires_on, held)
            noticed += len(soon)
        return noticed

    def _tell(
        self, session: Session, amounts: list[tuple[int, int]], key: str, on: date, held: dict[int, int] | None = None
    ) -> None:
        """Each person, and the family members who act for them (亲情账户); with `held`, the
        points on hold that would expire too if released."""
        family = members_of(session, [person_id for person_id, _ in amounts])
        for person_id, amount in amounts:
            on_hold = (held or {}).get(person_id, 0)
            which, extra = key, dict[str, Any]()
            if on_hold:  # "and N on hold", or only that when nothing free expires
                which, extra = (f"{key}_held" if amount else f"{key}_held_only"), {"held": on_hold}
            notify(session, self.clock, person_id, which, amount=amount, date=on.isoformat(), **extra)
            for member_id, name in family.get(person_id, []):
                notify(
                    session,
                    self.clock,
                    member_id,
                    f"{which}_family",
                    name=name,
                    amount=amount,
                    date=on.isoformat(),
                    **extra,
                )
