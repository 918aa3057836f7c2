"""Decisions on time (上不过午，下不过夜): whatever waits for a worker is due by 12:00 when it came
in the morning and by the evening deadline (21:00 unless the community sets another) when it
came in the afternoon; later arrivals are due by 12:00 the next day. All in the community's time
zone. This module holds the rule, the nudge an hour before each deadline, the admins' digest at
the deadline, workers on leave, and the on-time figures the report and `/top workers` show.

What waits comes from WAITING_SOURCES: one function per kind of item (hour logs, redemptions;
other features add theirs), so the rule applies to every kind alike."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.kernel.access import get_community, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month, at_local, days_after, in_zone, local_date, zone
from bot.kernel.db import Database, claim, reads, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed
from bot.kernel.i18n import T, Text, render
from bot.messages.notify import notify
from bot.reports.service import Column, Sheet
from bot.stars.service import competition_ranks
from models import Community, JobRun, Membership, Person, Redemption, ServiceLog, ServiceRequest

NOON = time(12, 0)
DEFAULT_EVENING = time(21, 0)
# The evening deadline must leave the afternoon a sensible length and fall on the same day.
EARLIEST_EVENING, LATEST_EVENING = time(13, 0), time(23, 0)
NUDGE_BEFORE = timedelta(hours=1)
TOP_WORKERS = 5  # a thank-you: only the top is shown, never the bottom
DIGEST_LINES = 40
NUDGE_JOB, DIGEST_JOB = "deadline-nudge", "deadline-digest"
_CLOCK_TIME = re.compile(r"^\s*(\d{1,2})[:：点](\d{2})?\s*$")


# --- the rule -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineRule:
    timezone: str = "Asia/Shanghai"
    evening: time = DEFAULT_EVENING

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def _at(self, day: date, at: time) -> datetime:
        return at_local(day, at, self.tz)

    def due(self, submitted: datetime) -> datetime:
        """The deadline of something that came in at `submitted` (UTC)."""
        local = in_zone(submitted, self.tz)
        day, at = local.date(), local.time()
        if at < NOON:
            return self._at(day, NOON)
        if at < self.evening:
            return self._at(day, self.evening)
        return self._at(days_after(day, 1), NOON)

    def deadlines_around(self, now: datetime) -> tuple[datetime, datetime]:
        """The last deadline at or before `now` and the next one after it."""
        day = local_date(now, self.tz)
        times = [self._at(days_after(day, d), at) for d in (-1, 0, 1) for at in (NOON, self.evening)]
        return max(t for t in times if t <= now), min(t for t in times if t > now)

    def local(self, moment: datetime) -> datetime:
        return in_zone(moment, self.tz)


def rule_of(community: Community) -> DeadlineRule:
    evening = (community.options or {}).get("deadlines", {}).get("evening")
    return DeadlineRule(community.timezone, time.fromisoformat(evening) if evening else DEFAULT_EVENING)


def parse_evening(text: str) -> time:
    """ "21:00", "20:30", "21点" → a time between 13:00 and 23:00 on the quarter hour."""
    match = _CLOCK_TIME.match(text or "")
    if not match:
        raise InvalidInput("deadline.bad_time")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59 or minute % 15 or not EARLIEST_EVENING <= time(hour, minute) <= LATEST_EVENING:
        raise InvalidInput("deadline.bad_time")
    return time(hour, minute)


# --- what waits ---------------------------------------------------------------------------------

_NAME = func.coalesce(Person.real_name, Person.display_name)


def _hour_logs(session: Session, community_ids: list[int], start: datetime | None, end: datetime | None) -> list[Item]:
    log = ServiceLog
    stmt = (
        select(log.id, log.community_id, log.person_id, _NAME, log.created_at, log.decided_at, log.decided_by_id)
        .join(Person, Person.id == log.person_id)
        # A worker's 代录 and event hours are approved as they are recorded: they never wait.
        .where(log.community_id.in_(community_ids), log.recorded_by_worker.is_(False))
        # Nor do the hours of a service request its requester paid for (approved as it paid).
        .where(
            ~select(ServiceRequest.id)
            .where(ServiceRequest.service_log_id == log.id, ServiceRequest.payer != "community")
            .exists()
        )
    )
    if start is None:
        stmt = stmt.where(log.status == "pending")
    else:
        stmt = stmt.where(log.created_at < end, or_(log.status == "pending", log.decided_at >= start))
    return [Item(f"H{i}", c, p, n, at, ended, by) for i, c, p, n, at, ended, by in session.execute(stmt)]


def _redemptions(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    r = Redemption
    # Only the wait for a decision counts; after approval it waits for the person to collect.
    ended = func.coalesce(r.decided_at, r.closed_at)
    stmt = (
        select(r.id, r.community_id, r.person_id, _NAME, r.created_at, ended, r.decided_by_id)
        .join(Person, Person.id == r.person_id)
        .where(r.community_id.in_(community_ids))
    )
    if start is None:
        stmt = stmt.where(r.status == "pending")
    else:
        stmt = stmt.where(r.created_at < end, or_(r.status == "pending", ended >= start))
    return [Item(f"R{i}", c, p, n, at, e, by) for i, c, p, n, at, e, by in session.execute(stmt)]


WAITING_SOURCES.extend((_hour_logs, _redemptions))


def _items(
    session: Session, community_ids: list[int], start: datetime | None = None, end: datetime | None = None
) -> list[Item]:
    found: list[Item] = []
    for source in WAITING_SOURCES:
        found.extend(source(session, community_ids, start, end))
    return sorted(found, key=lambda i: (i.submitted_at, i.ref))


# --- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    decisions: int
    on_time: int
    median_minutes: float | None  # from coming in to the decision
    overdue: int  # decided late, and (for the community) still waiting past the deadline

    @property
    def share(self) -> float | None:
        """Per cent decided on time, one decimal; None when nothing was decided."""
        return round(100 * self.on_time / self.decisions, 1) if self.decisions else None


@dataclass(frozen=True)
class Overdue:
    item: Item
    due: datetime


@dataclass(frozen=True)
class MonthFigures:
    community: Figures
    workers: dict[int, Figures]  # decider → their figures
    names: dict[int, str]
    overdue: list[Overdue]


def figures(items: list[Item], rule: DeadlineRule, start: datetime, end: datetime, now: datetime) -> MonthFigures:
    """Decisions made in [start, end), and items whose deadline passed in it (up to `now`)
    without a decision in time. `items` as a Source returns them for that range."""
    decided: dict[int | None, list[tuple[bool, float]]] = defaultdict(list)
    overdue: list[Overdue] = []
    for item in items:
        due, ended = rule.due(item.submitted_at), item.ended_at
        if item.decided_by is not None and ended is not None and start <= ended < end:
            decided[item.decided_by].append((ended <= due, (ended - item.submitted_at).total_seconds() / 60))
        late = ended > due if ended is not None else True
        if start <= due < min(end, now) and late:
            overdue.append(Overdue(item, due))

    def of(rows: list[tuple[bool, float]], late: int) -> Figures:
        minutes = [m for _, m in rows]
        return Figures(len(rows), sum(ok for ok, _ in rows), statistics.median(minutes) if minutes else None, late)

    late_by: defaultdict[int | None, int] = defaultdict(int)
    for o in overdue:
        late_by[o.item.decided_by] += o.item.decided_by is not None
    everyone = [row for rows in decided.values() for row in rows]
    return MonthFigures(
        of(everyone, len(overdue)),
        {worker: of(rows, late_by[worker]) for worker, rows in decided.items() if worker is not None},
        {},
        overdue,
    )


# --- the service --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopWorker:
    rank: int
    person_id: int
    name: str | None  # None: hides their name
    on_time: int


@dataclass(frozen=True)
class RunSummary:
    nudges: int
    digests: int

    def __str__(self) -> str:
        return f"deadlines: {self.nudges} worker nudges, {self.digests} admin digests"


class DeadlinesService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    @reads
    def rule(self, community_id: int) -> DeadlineRule:
        with self.db.read() as session:
            return rule_of(get_community(session, community_id))

    def set_evening(self, actor_id: int, community_id: int, text: str) -> DeadlineRule:
        at = parse_evening(text)

        def work(session: Session) -> DeadlineRule:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            community.options = {**(community.options or {}), "deadlines": {"evening": at.strftime("%H:%M")}}
            audit(
                session,
                self.clock,
                "evening_deadline.set",
                actor_id,
                community_id,
                details={"evening": at.strftime("%H:%M")},
            )
            return rule_of(community)

        return self.db.transaction(work)

    def set_away(self, worker_id: int, community_id: int, away: bool) -> bool:
        """A worker goes on leave or comes back. Returns whether anything changed."""

        def work(session: Session) -> bool:
            if role_in(session, worker_id, community_id) != "worker":
                raise NotAllowed("error.need_worker")
            m = Membership
            changed = session.execute(
                update(m)
                .where(
                    m.person_id == worker_id,
                    m.community_id == community_id,
                    m.away_since.is_(None) if away else m.away_since.is_not(None),
                )
                .values(away_since=self.clock.now() if away else None)
            )
            if rowcount(changed):
                audit(session, self.clock, "worker.away" if away else "worker.back", worker_id, community_id)
            return bool(rowcount(changed))

        return self.db.transaction(work)

    @reads
    def top_workers(self, person_id: int, community_id: int) -> tuple[str, list[TopWorker]]:
        """This month's workers by decisions made on time, the top only; for any member."""
        with self.db.read() as session:
            require_role(session, person_id, community_id, "resident")
            community = get_community(session, community_id)
            month = self.clock.community(community.timezone).month()
            start, today = month.start, month.first
            end = self.clock.now() + timedelta(seconds=1)  # decisions made this very second count
            result = figures(_items(session, [community_id], start, end), rule_of(community), start, end, end)
            totals = [(w, f.on_time) for w, f in result.workers.items() if f.on_time > 0]
            ranked = [r for r in competition_ranks(totals) if r[0] <= TOP_WORKERS]
            names = (
                {
                    pid: (None if hidden else name)
                    for pid, name, hidden in session.execute(
                        select(Person.id, Person.display_name, Person.hide_name).where(
                            Person.id.in_([p for _, p, _ in ranked])
                        )
                    )
                }
                if ranked
                else {}
            )
        return f"{today:%Y-%m}", [TopWorker(rank, p, names.get(p), n) for rank, p, n in ranked]

    # --- the job ------------------------------------------------------------------------------

    def run(self, now: datetime | None = None) -> RunSummary:
        """Nudge the workers in the hour before each deadline and send the admins one digest per
        community of what is still undecided once a deadline has passed. Each is claimed per
        community and deadline in the same transaction as its messages: never sent twice."""
        now = now or self.clock.now()
        with self.db.read() as session:
            communities = list(session.scalars(select(Community).order_by(Community.id)))
            # What this run may still claim: most runs find every deadline already claimed and
            # read nothing more, nor open a write transaction.
            rounds = {c.id: (rule_of(c), *rule_of(c).deadlines_around(now)) for c in communities}
            periods = {_key(r, d) for r, last, upcoming in rounds.values() for d in (last, upcoming)}
            claimed = (
                set(
                    (
                        session.execute(
                            select(JobRun.job, JobRun.scope, JobRun.period).where(
                                JobRun.job.in_((NUDGE_JOB, DIGEST_JOB)), JobRun.period.in_(sorted(periods))
                            )
                        )
                    ).all()
                )
                if periods
                else set()
            )
            wanted = {}
            for c in communities:
                rule, last, upcoming = rounds[c.id]
                nudge = upcoming - now <= NUDGE_BEFORE and (NUDGE_JOB, str(c.id), _key(rule, upcoming)) not in claimed
                if nudge or (DIGEST_JOB, str(c.id), _key(rule, last)) not in claimed:
                    wanted[c.id] = c
            if not wanted:
                return RunSummary(0, 0)
            # Items whose waiting starts later (a taken request before its time is over) do not wait yet.
            waiting = [i for i in _items(session, list(wanted)) if i.submitted_at <= now]
            workers: dict[int, list[tuple[int, str, str, bool]]] = defaultdict(list)
            for cid, pid, name, locale, away in session.execute(
                select(
                    Membership.community_id,
                    Person.id,
                    Person.display_name,
                    Person.locale,
                    Membership.away_since.is_not(None),
                )
                .join(Person, Person.id == Membership.person_id)
                .where(Membership.role == "worker", Membership.community_id.in_(list(wanted)))
                .order_by(Person.id)
            ):
                workers[cid].append((pid, name, locale, bool(away)))
            admins = list(
                (
                    session.execute(
                        select(Person.id, Person.locale).where(Person.is_admin.is_(True)).order_by(Person.id)
                    )
                ).all()
            )
        by_community: dict[int, list[Item]] = defaultdict(list)
        for item in waiting:
            by_community[item.community_id].append(item)
        nudges = digests = 0
        for community in wanted.values():
            rule, last, upcoming = rounds[community.id]
            items = by_community.get(community.id, [])
            present = [w for w in workers.get(community.id, []) if not w[3]]

            def work(
                session: Session, c=community, r=rule, last=last, upcoming=upcoming, items=items, present=present
            ) -> tuple[int, int]:
                sent_nudges = sent_digests = 0
                if upcoming - now <= NUDGE_BEFORE and claim(session, NUDGE_JOB, str(c.id), _key(r, upcoming), now):
                    for pid, name, locale, _ in present:
                        mine = [i for i in items if i.person_id != pid]
                        if mine:
                            oldest = mine[0]
                            notify(
                                session,
                                self.clock,
                                pid,
                                "deadline.nudge",
                                name=name,
                                count=len(mine),
                                deadline=_hm(r, upcoming),
                                oldest=oldest.ref,
                                oldest_name=oldest.person_name,
                                oldest_due=_when(r, r.due(oldest.submitted_at)),
                            )
                            sent_nudges += 1
                if claim(session, DIGEST_JOB, str(c.id), _key(r, last), now):
                    # Only what someone present could have decided: a worker's own item, or all
                    # of it while every worker is on leave, is nobody's lateness.
                    late = [
                        i
                        for i in items
                        if r.due(i.submitted_at) <= last and any(pid != i.person_id for pid, *_ in present)
                    ]
                    if late and admins:
                        for admin_id, locale in admins:
                            lines = [
                                render(
                                    locale,
                                    "deadline.digest_line",
                                    {
                                        "ref": i.ref,
                                        "name": i.person_name,
                                        "due": _when(r, r.due(i.submitted_at)),
                                        "late": _late(now - r.due(i.submitted_at)),
                                    },
                                )
                                for i in late[:DIGEST_LINES]
                            ]
                            if len(late) > DIGEST_LINES:
                                lines.append(
                                    render(locale, "deadline.digest_more", {"count": len(late) - DIGEST_LINES})
                                )
                            notify(
                                session,
                                self.clock,
                                admin_id,
                                "deadline.digest",
                                community=c.name,
                                deadline=_when(r, last),
                                count=len(late),
                                lines=lines,
                            )
                        sent_digests = 1
                return sent_nudges, sent_digests

            n, d = self.db.transaction(work)
            nudges, digests = nudges + n, digests + d
        return RunSummary(nudges, digests)


def _key(rule: DeadlineRule, deadline: datetime) -> str:
    return rule.local(deadline).strftime("%Y-%m-%dT%H:%M")


def _hm(rule: DeadlineRule, moment: datetime) -> str:
    return rule.local(moment).strftime("%H:%M")


def _when(rule: DeadlineRule, moment: datetime) -> str:
    return rule.local(moment).strftime("%m-%d %H:%M")


def _late(delta: timedelta) -> Text:
    """How late: just now, in minutes under an hour (the digest runs minutes after a deadline),
    else in hours to the quarter ("1.25", "3", "26.5")."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes == 0:
        return T("deadline.late_now")
    if minutes < 60:
        return T("deadline.late_minutes", minutes=minutes)
    return T("deadline.late_hours", hours=f"{minutes // 15 / 4:g}")


def due_label(rule: DeadlineRule, submitted: datetime, now: datetime) -> tuple[str, bool]:
    """What /pending shows: the local deadline, and whether it has passed."""
    due = rule.due(submitted)
    return _when(rule, due), now > due


# --- the monthly report -------------------------------------------------------------------------


def month_figures(session: Session, community: Community, month: Month) -> MonthFigures:
    now = month.as_of or month.end
    result = figures(
        _items(session, [community.id], month.start, month.end), rule_of(community), month.start, month.end, now
    )
    ids = set(result.workers) | {o.item.decided_by for o in result.overdue if o.item.decided_by}
    names = dict((session.execute(select(Person.id, _NAME).where(Person.id.in_(ids)))).all()) if ids else {}
    return MonthFigures(result.community, result.workers, names, result.overdue)


def _share(f: Figures) -> str:
    return "" if f.share is None else f"{f.share:.1f}%"


def _median_hours(f: Figures) -> float | str:
    return "" if f.median_minutes is None else round(f.median_minutes / 60, 2)


def decisions_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Per worker and for the community: decisions, the share on time, the median time to
    decide and the overdue items."""
    community = get_community(session, community_id)
    result = month_figures(session, community, month)
    if not result.community.decisions and not result.overdue:
        return None
    rows = sorted(
        (
            (result.names.get(w, str(w)), f.decisions, f.on_time, _share(f), _median_hours(f), f.overdue)
            for w, f in result.workers.items()
        ),
        key=lambda r: (-r[2], r[0]),
    )
    c = result.community
    totals = (
        render(locale, "section.decisions.community"),
        c.decisions,
        c.on_time,
        _share(c),
        _median_hours(c),
        c.overdue,
    )
    columns = tuple(
        Column(render(locale, f"section.decisions.{key}"), kind)
        for key, kind in (
            ("worker", "text"),
            ("decisions", "int"),
            ("on_time", "int"),
            ("share", "text"),
            ("median", "hours"),
            ("overdue", "int"),
        )
    )
    rule = rule_of(community)
    notes = (render(locale, "section.decisions.note", {"evening": rule.evening.strftime("%H:%M")}),)
    return Sheet("decisions", render(locale, "section.decisions.title"), columns, rows, totals, notes)


def overdue_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Each item whose deadline passed in the month before it was decided."""
    community = get_community(session, community_id)
    result = month_figures(session, community, month)
    if not result.overdue:
        return None
    rule = rule_of(community)
    waiting = render(locale, "section.overdue.waiting")

    def local(moment: datetime) -> str:
        return rule.local(moment).strftime("%Y-%m-%d %H:%M")

    rows = [
        (
            o.item.ref,
            o.item.person_name,
            local(o.item.submitted_at),
            local(o.due),
            local(o.item.ended_at) if o.item.ended_at else waiting,
            result.names.get(o.item.decided_by, "") if o.item.decided_by else "",
        )
        for o in result.overdue
    ]
    columns = tuple(
        Column(render(locale, f"section.overdue.{key}"), "text")
        for key in ("ref", "name", "submitted", "due", "decided", "decided_by")
    )
    return Sheet("overdue", render(locale, "section.overdue.title"), columns, rows)
