"""Elderly visits (探访): visit and call records, alerts and their escalation, the lists of who
is due today, and the morning reminders. The roster itself lives in bot/elders/service.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.elders.cadence import VisitCadence, due_filter, due_of, due_params, local_date
from bot.elders.service import ElderRoster, elder_access, get_elder, manage_elder, told_of_elder, viewer
from bot.hours.service import HoursService, LogView, check_backdate, check_minutes, clean_note
from bot.kernel.access import (
    check_grid,
    coordinating,
    get_community,
    get_person,
    require_role,
    role_in,
)
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, in_zone, zone
from bot.kernel.db import Database, claim, rowcount
from bot.kernel.errors import DomainError, InvalidInput, NotFound
from bot.kernel.i18n import T, Text, render
from bot.kernel.settings import Settings
from bot.messages.notify import notify, notify_admins
from bot.people.service import PeopleService
from models import (
    Community,
    Consent,
    Elder,
    ElderVolunteer,
    Grid,
    GridCoordinator,
    Membership,
    Notification,
    Person,
    ServiceCategory,
    VisitAlert,
    VisitCheckin,
    VisitRecord,
)
from models.visits import OUTCOMES, VISIT_KINDS

ALERT_ESCALATION = timedelta(hours=2)
VISIT_CATEGORY = "探访"
MORNING_LINES = 40  # a longer list ends with "… and N more"
MORNING_BATCH = 25  # communities a transaction: few commits, short write locks
# A visit or call record is T12 (探访): V is a volunteer waiting for confirmation (/approve V7).
VISIT_PREFIX = "T"


# --- what the service returns ----------------------------------------------------------------


@dataclass(frozen=True)
class DueItem:
    elder_id: int
    community_id: int
    name: str
    age: int
    grid: str | None
    grid_id: int | None
    kind: str  # visit or call
    due: date
    overdue_days: int
    cycle: int  # days between contacts of this kind
    flagged: bool
    worker_id: int | None
    address: str | None
    phone: str | None
    volunteers: tuple[str, ...] = ()
    consented: bool = True  # the elder's consent is on record: volunteers may see the address

    @property
    def ref(self) -> str:
        return f"E{self.elder_id}"

    @property
    def long_overdue(self) -> bool:
        """Overdue by more than one whole cycle: the admins hear of it."""
        return self.overdue_days > self.cycle


@dataclass(frozen=True)
class AlertView:
    id: int
    community_id: int
    elder_id: int
    elder_name: str
    reported_by: str
    note: str | None
    raised_at: datetime
    escalated: bool
    acknowledged_by: str | None
    changed: bool = True  # False when acknowledging an alert someone already acknowledged

    @property
    def ref(self) -> str:
        return f"A{self.id}"


@dataclass(frozen=True)
class DueList:
    today: date
    items: list[DueItem]
    alerts: list[AlertView]
    full: bool


@dataclass(frozen=True)
class Recorded:
    visit_id: int
    elder_id: int
    elder_name: str
    kind: str
    outcome: str
    alert_id: int | None = None
    notified: tuple[str, ...] = ()  # workers told at once (help needed, in hospital, flagged)
    flagged: bool = False  # this record made it two "not at home" in a row
    by_volunteer: bool = False
    log: LogView | None = None
    log_error: DomainError | None = None  # the visit stands; its hours were refused
    replayed: bool = False
    verified: bool = False  # checked in by scanning the elder's door card

    @property
    def needs_minutes(self) -> bool:
        """A volunteer's visit still waiting for its duration (for the 探访 service log)."""
        return self.by_volunteer and self.kind == "visit" and self.log is None and self.log_error is None


@dataclass(frozen=True)
class MorningReport:
    communities: int  # communities whose reminders this run sent
    messages: int
    long_overdue: int
    due: int = 0  # visits and calls due today or overdue, every community


@dataclass
class _Recipient:
    person_id: int
    name: str
    locale: str


# --- lines shared by the chat lists and the morning messages --------------------------------


def due_line(item: DueItem, *, address: bool = True, phone: bool = True, visitors: bool = True) -> Text:
    when = T("visits.when.today") if item.overdue_days == 0 else T("visits.when.overdue", days=item.overdue_days)
    return T(
        "visits.line",
        flag="⚠️" if item.flagged else "",
        ref=item.ref,
        name=item.name,
        age=item.age,
        kind=T(f"visits.kind.{item.kind}"),
        when=when,
        address=T("visits.line.address", address=item.address) if address and item.address else "",
        phone=T("visits.line.phone", phone=item.phone) if phone and item.phone and item.kind == "call" else "",
        visitors=T("visits.line.visitors", names="、".join(item.volunteers)) if visitors and item.volunteers else "",
    )


def grid_order(items: list[DueItem]) -> list[DueItem]:
    """Grids in the roster's order, elders without a grid last; the order within a grid kept."""
    return sorted(items, key=lambda i: (i.grid_id is None, i.grid_id or 0))


def by_grid(items: list[DueItem], line: Any) -> list[Text]:
    """Lines under a heading per grid (see grid_order)."""
    out: list[Text] = []
    current: object = ()
    for item in grid_order(items):
        if item.grid_id != current:
            current = item.grid_id
            out.append(T("visits.grid", grid=item.grid) if item.grid else T("visits.no_grid"))
        out.append(line(item))
    return out


def _order(item: DueItem) -> tuple:
    """Flagged elders first, then the longest overdue."""
    return (not item.flagged, -item.overdue_days, item.elder_id)


class VisitsService:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, people: PeopleService, hours: HoursService
    ) -> None:
        self.db, self.settings, self.clock, self.hours = db, settings, clock, hours
        self.roster = ElderRoster(db, clock, people)

    # --- cadence ----------------------------------------------------------------------------

    def cadence(self, community_id: int) -> VisitCadence:
        with self.db.uow() as session:
            return VisitCadence.from_options((get_community(session, community_id)).options)

    def set_cadence(self, actor_id: int, community_id: int, changes: dict[str, Any]) -> VisitCadence:
        """Merge `changes` ({"age": 75} or {"alone": {"visit": 10, "call": 5}}) into the
        community's cadence."""

        def work(session: Session) -> VisitCadence:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            merged = dict((community.options or {}).get("cadence") or {})
            for key, value in changes.items():
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
            cadence = VisitCadence.parse(merged)  # refuses bad numbers before anything is saved
            community.options = {**(community.options or {}), "cadence": merged}
            audit(session, self.clock, "cadence.change", actor_id, community_id, details=changes)
            return cadence

        return self.db.transaction(work)

    # --- visits and calls -------------------------------------------------------------------

    def record(
        self,
        actor_id: int,
        elder_id: int,
        *,
        kind: str,
        outcome: str,
        note: str | None = None,
        location: tuple[float, float] | None = None,
        photo: str | None = None,
        minutes: int | None = None,
        request_key: str | None = None,
        at: datetime | None = None,
        checkin_id: int | None = None,
    ) -> Recorded:
        """Record a visit or a call by the assigned worker, an assigned volunteer or any worker
        of the community. "needs help" alerts the worker at once; a second "not at home" in a
        row flags the elder; a volunteer's visit also makes a pending 探访 service log. With
        `checkin_id` (the actor's scan of the elder's door card) the visit is at the scan's
        time and verified."""
        if kind not in VISIT_KINDS:
            raise InvalidInput("visits.error.bad_kind")
        if outcome not in OUTCOMES:
            raise InvalidInput("visits.error.bad_outcome")
        # A bad duration never stops the record (it may carry a call for help): only its hours.
        now = self.clock.now()
        at = at or now
        check_backdate(at, now, self.settings.service_log_max_age_days, "visits.error.bad_time")
        note = clean_note(" ".join((note or "").split()))

        def work(session: Session) -> Recorded:
            when = at
            checkin = None
            if checkin_id is not None and kind == "visit":
                checkin = session.get(VisitCheckin, checkin_id, with_for_update=True)
                if checkin is None or (checkin.person_id, checkin.elder_id) != (actor_id, elder_id):
                    raise NotFound("checkin.no_checkin")
                when = checkin.at
            recorded, visit = self._record_in(
                session, actor_id, elder_id, kind, outcome, note, location, photo, request_key, when, now
            )
            if checkin is not None and not recorded.replayed:
                if checkin.visit_id is not None and checkin.visit_id != visit.id:
                    raise InvalidInput("checkin.used")
                checkin.visit_id = visit.id
                visit.verified = True
                recorded = _with(recorded, verified=True)
            if not (recorded.by_volunteer and kind == "visit" and minutes is not None):
                return recorded
            try:
                # A savepoint: refused hours leave the visit (and any alert) standing.
                with session.begin_nested():
                    return _with(recorded, log=self._log_hours_in(session, visit, minutes))
            except DomainError as exc:  # the visit stands; say why its hours were not logged
                return _with(recorded, log_error=exc)

        return self.db.transaction(work)

    def _record_in(
        self,
        session: Session,
        actor_id: int,
        elder_id: int,
        kind: str,
        outcome: str,
        note: str | None,
        location: tuple[float, float] | None,
        photo: str | None,
        request_key: str | None,
        at: datetime,
        now: datetime,
    ) -> tuple[Recorded, VisitRecord]:
        if request_key:
            replay = session.scalar(select(VisitRecord).where(VisitRecord.request_key == request_key))
            if replay is not None:
                return self._replayed(session, replay, actor_id), replay
        elder = get_elder(session, elder_id)
        if not elder.active:
            raise InvalidInput("visits.error.retired", ref=f"E{elder.id}")
        _, role = elder_access(session, actor_id, elder)
        visit = VisitRecord(
            community_id=elder.community_id,
            elder_id=elder.id,
            person_id=actor_id,
            kind=kind,
            at=at,
            outcome=outcome,
            note=note,
            lat=location[0] if location else None,
            lon=location[1] if location else None,
            photo=photo,
            request_key=request_key,
            created_at=now,
        )
        session.add(visit)
        session.flush()
        streak = session.scalar(
            update(Elder)
            .where(Elder.id == elder.id)
            .values(**_contact_update(kind, outcome, at))
            .returning(Elder.not_home_streak)
        )
        flagged = outcome == "not_home" and streak == 2
        news: dict[str, Any] = {}  # what the workers are told at once, if anything
        alert_id = None
        if outcome == "needs_help":
            alert = VisitAlert(community_id=elder.community_id, elder_id=elder.id, visit_id=visit.id, raised_at=now)
            session.add(alert)
            session.flush()
            alert_id = alert.id
            news = {"key": "visits.notify.needs_help", "alert": f"A{alert_id}"}
        elif outcome == "hospital":
            news = {"key": "visits.notify.hospital"}
        elif flagged:
            news = {"key": "visits.notify.not_home_twice"}
        told: list[str] = []
        if news:
            details = self._details(session, elder, visit)
            for person_id, name in told_of_elder(session, elder, actor_id):
                notify(session, self.clock, person_id, **news, **details)
                told.append(name)
        recorded = Recorded(
            visit.id, elder.id, elder.name, kind, outcome, alert_id, tuple(told), flagged, role == "volunteer"
        )
        return recorded, visit

    def _replayed(self, session: Session, visit: VisitRecord, actor_id: int) -> Recorded:
        if visit.person_id != actor_id:
            raise InvalidInput("error.idempotency_conflict")
        elder = get_elder(session, visit.elder_id)
        alert_id = session.scalar(select(VisitAlert.id).where(VisitAlert.visit_id == visit.id))
        by_volunteer = role_in(session, actor_id, elder.community_id) == "volunteer"
        return Recorded(
            visit.id,
            elder.id,
            elder.name,
            visit.kind,
            visit.outcome,
            alert_id,
            (),
            False,
            by_volunteer,
            replayed=True,
            verified=visit.verified,
        )

    def _details(self, session: Session, elder: Elder, visit: VisitRecord) -> dict[str, Any]:
        """What a worker or an admin needs to act: who, where, how to reach them and their family."""
        reporter = get_person(session, visit.person_id)
        community = get_community(session, elder.community_id)
        this_year = self.clock.community(community.timezone).today().year
        return dict(
            ref=f"E{elder.id}",
            name=elder.name,
            age=this_year - elder.birth_year,
            community=community.name,
            address=elder.address,
            phone=elder.phone or "—",
            emergency=elder.emergency_contact or "—",
            by=reporter.display_name,
            note=visit.note or "—",
        )

    def log_visit_hours(self, actor_id: int, visit_id: int, minutes: int) -> LogView:
        """The pending 探访 service log for a volunteer's visit; asking again returns the same log."""

        def work(session: Session) -> LogView:
            visit = session.get(VisitRecord, visit_id)
            if visit is None or visit.person_id != actor_id or visit.kind != "visit":
                raise NotFound("visits.error.no_visit", ref=f"{VISIT_PREFIX}{visit_id}")
            return self._log_hours_in(session, visit, minutes)

        return self.db.transaction(work)

    def _log_hours_in(self, session: Session, visit: VisitRecord, minutes: int) -> LogView:
        """Inside the caller's transaction: the visit's service log, made and linked once."""
        check_minutes(minutes)
        if visit.service_log_id is not None:
            return self.hours._view(session, visit.service_log_id)
        elder = get_elder(session, visit.elder_id)
        category_id = session.scalar(
            select(ServiceCategory.id).where(
                ServiceCategory.community_id == visit.community_id,
                ServiceCategory.name == VISIT_CATEGORY,
                ServiceCategory.active.is_(True),
            )
        )
        if category_id is None:
            raise InvalidInput("visits.error.no_visit_category")
        tz = zone((get_community(session, visit.community_id)).timezone)
        log = self.hours.submit_in(
            session,
            visit.person_id,
            visit.community_id,
            category_id=category_id,
            service_date=local_date(visit.at, tz),
            minutes=minutes,
            note=" ".join(x for x in (f"E{elder.id} {elder.name}", visit.note) if x)[:500],
            photo=visit.photo,
            request_key=f"visit:V{visit.id}",
        )
        session.execute(
            update(VisitRecord)
            .where(VisitRecord.id == visit.id, VisitRecord.service_log_id.is_(None))
            .values(service_log_id=log.id)
        )
        return log

    # --- alerts -----------------------------------------------------------------------------

    def ack(self, actor_id: int, alert_id: int) -> AlertView:
        """A worker of the community (or an admin) takes the alert on; the reporter is told, and
        so are the admins when it had already been escalated to them."""

        def work(session: Session) -> AlertView:
            alert = session.get(VisitAlert, alert_id)
            if alert is None:
                raise NotFound("visits.error.no_alert", ref=f"A{alert_id}")
            manage_elder(session, actor_id, get_elder(session, alert.elder_id))
            actor = get_person(session, actor_id)
            claimed = session.execute(
                update(VisitAlert)
                .where(VisitAlert.id == alert_id, VisitAlert.acknowledged_at.is_(None))
                .values(acknowledged_at=self.clock.now(), acknowledged_by_id=actor_id)
            )
            session.refresh(alert)
            view = (self._alert_views(session, [alert]))[0]
            if rowcount(claimed) != 1:
                return _with(view, changed=False)
            elder = get_elder(session, alert.elder_id)
            visit = session.get_one(VisitRecord, alert.visit_id)
            told = {actor_id}
            if visit.person_id not in told:
                notify(
                    session,
                    self.clock,
                    visit.person_id,
                    "visits.notify.acked",
                    alert=view.ref,
                    ref=f"E{elder.id}",
                    name=elder.name,
                    by=actor.display_name,
                )
                told.add(visit.person_id)
            if alert.escalated_at is not None:
                for admin_id in session.scalars(select(Person.id).where(Person.is_admin.is_(True))):
                    if admin_id not in told:
                        notify(
                            session,
                            self.clock,
                            admin_id,
                            "visits.notify.acked",
                            alert=view.ref,
                            ref=f"E{elder.id}",
                            name=elder.name,
                            by=actor.display_name,
                        )
            return view

        return self.db.transaction(work)

    def escalate_alerts(self) -> int:
        """Tell the admins of every alert nobody acknowledged within 2 hours, once each."""
        now = self.clock.now()

        def work(session: Session) -> int:
            due = list(
                session.scalars(
                    select(VisitAlert)
                    .where(
                        VisitAlert.acknowledged_at.is_(None),
                        VisitAlert.escalated_at.is_(None),
                        VisitAlert.raised_at <= now - ALERT_ESCALATION,
                    )
                    .order_by(VisitAlert.id)
                )
            )
            escalated = 0
            for alert in due:
                claimed = session.execute(
                    update(VisitAlert)
                    .where(
                        VisitAlert.id == alert.id,
                        VisitAlert.escalated_at.is_(None),
                        VisitAlert.acknowledged_at.is_(None),
                    )
                    .values(escalated_at=now)
                )
                if rowcount(claimed) != 1:
                    continue
                elder = get_elder(session, alert.elder_id)
                visit = session.get_one(VisitRecord, alert.visit_id)
                worker = session.get(Person, elder.worker_id) if elder.worker_id else None
                raised = in_zone(alert.raised_at, (get_community(session, alert.community_id)).timezone)
                notify_admins(
                    session,
                    self.clock,
                    "visits.notify.escalated",
                    alert=f"A{alert.id}",
                    raised=raised.strftime("%m-%d %H:%M"),
                    worker=worker.display_name if worker else "—",
                    **self._details(session, elder, visit),
                )
                escalated += 1
            return escalated

        return self.db.transaction(work)

    def _alert_views(self, session: Session, alerts: Iterable[VisitAlert]) -> list[AlertView]:
        alerts = list(alerts)
        if not alerts:
            return []
        elders = dict(
            (session.execute(select(Elder.id, Elder.name).where(Elder.id.in_({a.elder_id for a in alerts})))).all()
        )
        visits = {
            v.id: v
            for v in session.scalars(select(VisitRecord).where(VisitRecord.id.in_({a.visit_id for a in alerts})))
        }
        people = {a.acknowledged_by_id for a in alerts if a.acknowledged_by_id} | {v.person_id for v in visits.values()}
        names = dict((session.execute(select(Person.id, Person.display_name).where(Person.id.in_(people)))).all())
        return [
            AlertView(
                a.id,
                a.community_id,
                a.elder_id,
                elders[a.elder_id],
                names[visits[a.visit_id].person_id],
                visits[a.visit_id].note,
                a.raised_at,
                a.escalated_at is not None,
                names.get(a.acknowledged_by_id) if a.acknowledged_by_id else None,
            )
            for a in alerts
        ]

    # --- the lists --------------------------------------------------------------------------

    def due_for(self, person_id: int, community_id: int, *, everyone: bool = False) -> DueList:
        """What the person should visit or call today and what is overdue. Workers: the elders
        they look after and those nobody looks after (`everyone`: the whole community), with
        open alerts; coordinators: their grids' elders and alerts; volunteers: the visits of
        their own elders."""
        with self.db.uow() as session:
            community, scope, role = viewer(session, person_id, community_id)
            full = scope is not None
            tz, today = zone(community.timezone), self.clock.community(community.timezone).today()
            cadence = VisitCadence.from_options(community.options)
            stmt = _due_select(cadence).where(Elder.community_id == community_id)
            if scope is None:
                stmt = stmt.where(
                    Elder.id.in_(select(ElderVolunteer.elder_id).where(ElderVolunteer.person_id == person_id))
                )
            elif not scope.everything:  # a coordinator: their grids, and the elders they visit
                stmt = stmt.where(
                    or_(
                        Elder.grid_id.in_(sorted(scope.grids)),
                        Elder.id.in_(select(ElderVolunteer.elder_id).where(ElderVolunteer.person_id == person_id)),
                    )
                )
            elif not everyone and role == "worker":
                stmt = stmt.where(or_(Elder.worker_id == person_id, Elder.worker_id.is_(None)))
            if full:  # who visits each, in the same round trip
                stmt = stmt.add_columns(_VISITOR_NAMES)
            # Plain rows on the connection: this runs on every /visits, the ORM adds nothing here.
            connection = session.connection()
            rows = (connection.execute(stmt, due_params(cadence, today, tz))).all()
            names = {r.id: tuple(sorted(r.visitors.split("\x1f"))) for r in rows if r.visitors} if full else None
            items = _items(rows, {community_id: (tz, today, cadence)}, full, names)
            if not full:
                items = [i for i in items if i.kind == "visit"]  # calls need the phone: the worker's
            elif scope is not None:
                # A coordinator's own elders outside their grids: as any visiting volunteer sees them.
                items = [
                    i if scope.covers(i.grid_id) else _as_visitor(i)
                    for i in items
                    if scope.covers(i.grid_id) or i.kind == "visit"
                ]
                for item in items:
                    if item.phone or item.volunteers:
                        check_grid(scope, item.grid_id)
            items.sort(key=_order)
            alerts: list[AlertView] = []
            if scope is not None:
                open_alerts = select(VisitAlert.id).where(
                    VisitAlert.community_id == community_id, VisitAlert.acknowledged_at.is_(None)
                )
                if not scope.everything:
                    open_alerts = open_alerts.join(Elder, Elder.id == VisitAlert.elder_id).where(
                        Elder.grid_id.in_(sorted(scope.grids))
                    )
                if open_ids := connection.execute(open_alerts).scalars().all():
                    alerts = self._alert_views(
                        session,
                        session.scalars(select(VisitAlert).where(VisitAlert.id.in_(open_ids)).order_by(VisitAlert.id)),
                    )
            return DueList(today, items, alerts, full)

    def morning(self) -> MorningReport:
        """The 08:30 reminders: one message per worker (their elders and the unassigned ones,
        grouped by grid), one per volunteer with visits due, and one digest to the admins of
        elders overdue by more than a whole cycle. Each community's run is claimed for its
        local date in the same transaction as its messages, so it is never sent twice."""
        now = self.clock.now()
        with self.db.uow() as session:
            communities = {c.id: c for c in session.scalars(select(Community).order_by(Community.id))}
            days: dict[int, Today] = {
                c.id: (
                    zone(c.timezone),
                    self.clock.community(c.timezone).today(),
                    VisitCadence.from_options(c.options),
                )
                for c in communities.values()
            }
            # Communities sharing a date and a cadence share one query (usually all of them).
            groups: dict[Today, list[int]] = defaultdict(list)
            for cid, day in days.items():
                groups[day].append(cid)
            items: list[DueItem] = []
            visitors: dict[int, list[_Recipient]] = defaultdict(list)
            connection = session.connection()
            for (tz, today, cadence), ids in groups.items():
                params = due_params(cadence, today, tz)
                for elder_id, pid, name, locale in connection.execute(
                    select(ElderVolunteer.elder_id, Person.id, Person.display_name, Person.locale)
                    .join(Elder, Elder.id == ElderVolunteer.elder_id)
                    .join(Person, Person.id == ElderVolunteer.person_id)
                    .where(Elder.community_id.in_(ids), Elder.active.is_(True), due_filter(cadence)),
                    params,
                ):
                    visitors[elder_id].append(_Recipient(pid, name, locale))
                names = {e: tuple(sorted(r.name for r in people)) for e, people in visitors.items()}
                stmt = _due_select(cadence).where(Elder.community_id.in_(ids))
                items.extend(_items(connection.execute(stmt, params), days, True, names))
            workers: dict[int, list[_Recipient]] = defaultdict(list)
            for cid, pid, name, locale in session.execute(
                select(Membership.community_id, Person.id, Person.display_name, Person.locale)
                .join(Person, Person.id == Membership.person_id)
                .where(Membership.role == "worker")
                .order_by(Person.id)
            ):
                workers[cid].append(_Recipient(pid, name, locale))
            # Grid coordinators: one message each with their grids' elders only.
            grids_of: dict[int, dict[int, tuple[_Recipient, set[int]]]] = defaultdict(dict)
            for cid, gid, pid, name, locale in session.execute(
                coordinating(
                    GridCoordinator.community_id, GridCoordinator.grid_id, Person.id, Person.display_name, Person.locale
                )
                .join(Person, Person.id == GridCoordinator.person_id)
                .order_by(Person.id)
            ):
                grids_of[cid].setdefault(pid, (_Recipient(pid, name, locale), set()))[1].add(gid)
            coordinators = {cid: list(people.values()) for cid, people in grids_of.items()}
            admins = [
                _Recipient(pid, name, locale)
                for pid, name, locale in session.execute(
                    select(Person.id, Person.display_name, Person.locale).where(Person.is_admin.is_(True))
                )
            ]
        by_community: dict[int, list[DueItem]] = defaultdict(list)
        for item in sorted(items, key=_order):
            by_community[item.community_id].append(item)
        sent_communities = messages = 0
        ids = list(communities)
        for start in range(0, len(ids), MORNING_BATCH):
            batch = [
                (cid, days[cid][1], by_community.get(cid, []), workers.get(cid, []))
                for cid in ids[start : start + MORNING_BATCH]
            ]
            done, sent = self.db.transaction(
                partial(self._send_mornings, batch=batch, visitors=visitors, coordinators=coordinators, now=now)
            )
            sent_communities, messages = sent_communities + done, messages + sent
        late = sorted((i for i in items if i.long_overdue), key=lambda i: (i.community_id, _order(i)))
        if late and admins:
            period = local_date(now, self.settings.tz).isoformat()

            def escalate(session: Session) -> int:
                if not claim(session, "reminders", "admins", period, now):
                    return 0
                for admin in admins:
                    lines = _capped(admin.locale, _late_lines(late, communities), 60)
                    notify(
                        session,
                        self.clock,
                        admin.person_id,
                        "visits.morning.admins",
                        date=period,
                        count=len(late),
                        lines=lines,
                    )
                return len(admins)

            messages += self.db.transaction(escalate)
        return MorningReport(sent_communities, messages, len(late), len(items))

    def _send_mornings(
        self,
        session: Session,
        *,
        batch: list[tuple[int, date, list[DueItem], list[_Recipient]]],
        visitors: dict[int, list[_Recipient]],
        coordinators: dict[int, list[tuple[_Recipient, set[int]]]],
        now: datetime,
    ) -> tuple[int, int]:
        """The messages of a few communities, each claimed for its day first (skipped when it
        was); written with one INSERT. Returns (communities sent, messages)."""
        rows: list[dict[str, Any]] = []
        done = 0
        memo: dict[str, dict[tuple, str]] = defaultdict(dict)
        for cid, today, items, workers in batch:
            if not claim(session, "reminders", f"C{cid}", today.isoformat(), now):
                continue
            done += 1
            for worker in workers:
                theirs = [i for i in items if i.worker_id in (None, worker.person_id)]
                rows.append(
                    _morning(worker, "visits.morning.worker", "visits.morning.worker_none", theirs, today, now, memo)
                )
            if coordinators.get(cid):
                rows += _coordinator_mornings(coordinators[cid], items, today, now, memo)
            per_volunteer: dict[int, tuple[_Recipient, list[DueItem]]] = {}
            for item in items:
                if item.kind == "visit":
                    for person in visitors.get(item.elder_id, ()):
                        per_volunteer.setdefault(person.person_id, (person, []))[1].append(item)
            for person, theirs in per_volunteer.values():
                lines = [due_line(i, address=i.consented, phone=False, visitors=False) for i in theirs]
                rows.append(
                    _message(
                        person.person_id,
                        now,
                        "visits.morning.volunteer",
                        name=person.name,
                        date=today.isoformat(),
                        count=len(theirs),
                        lines=_capped(person.locale, lines, MORNING_LINES, memo[person.locale]),
                    )
                )
        if rows:
            session.execute(insert(Notification.__table__), rows)
        return done, len(rows)


# --- module helpers ----------------------------------------------------------------------------


def _coordinator_mornings(
    coordinators: list[tuple[_Recipient, set[int]]],
    items: list[DueItem],
    today: date,
    now: datetime,
    memo: dict[str, dict[tuple, str]],
) -> list[dict[str, Any]]:
    """Each coordinator's 08:30 message: the due elders of their grids, nothing of any other."""
    in_grid: dict[int, list[DueItem]] = defaultdict(list)
    for item in items:
        if item.grid_id is not None:
            in_grid[item.grid_id].append(item)
    return [
        _morning(
            person,
            "grids.morning",
            "grids.morning_none",
            [i for g in sorted(grids) for i in in_grid.get(g, ())],
            today,
            now,
            memo,
        )
        for person, grids in coordinators
    ]


def _morning(
    person: _Recipient,
    key: str,
    none_key: str,
    items: list[DueItem],
    today: date,
    now: datetime,
    memo: dict[str, dict[tuple, str]],
) -> dict[str, Any]:
    """A worker's or a coordinator's 08:30 message: `key` with the due elders, or `none_key`."""
    if not items:
        return _message(person.person_id, now, none_key, name=person.name, date=today.isoformat())
    return _message(
        person.person_id,
        now,
        key,
        name=person.name,
        date=today.isoformat(),
        count=len(items),
        overdue=sum(1 for i in items if i.overdue_days),
        lines=_grid_lines(person.locale, items, memo[person.locale]),
    )


def end_assignments(session: Session, person_id: int, community_id: int) -> list[str]:
    """A volunteer leaving the community (a move) leaves its elders: off their cards and the
    08:30 lists. Returns the elders, as "王秀英（E1）", for the workers to hand them on."""
    elders = session.execute(
        select(Elder.id, Elder.name)
        .join(ElderVolunteer, ElderVolunteer.elder_id == Elder.id)
        .where(ElderVolunteer.person_id == person_id, Elder.community_id == community_id)
        .order_by(Elder.id)
    ).all()
    if elders:
        session.execute(
            ElderVolunteer.__table__.delete().where(
                ElderVolunteer.person_id == person_id, ElderVolunteer.elder_id.in_([e.id for e in elders])
            )
        )
    return [f"{e.name}（E{e.id}）" for e in elders]


def _as_visitor(item: DueItem) -> DueItem:
    """The item as a visiting volunteer sees it: no phone, no other visitors, the address only
    with the elder's consent."""
    return replace(item, address=item.address if item.consented else None, phone=None, volunteers=())


def _message(person_id: int, now: datetime, key: str, **params: Any) -> dict[str, Any]:
    """A notification row (see bot.messages.notify), for writing many with one INSERT."""
    return {"person_id": person_id, "key": key, "params": params, "coalesce_key": None, "created_at": now}


def _with(obj: Any, **changes: Any) -> Any:
    return replace(obj, **changes)


def _contact_update(kind: str, outcome: str, at: datetime) -> dict[str, Any]:
    """The elder's columns after a record, as one atomic UPDATE: a contact moves the last
    visit or call (never backwards, for records entered late) and clears the flag; "not at
    home" is no contact and lengthens the streak, flagging the elder at two."""
    if outcome == "not_home":
        return {
            "not_home_streak": Elder.not_home_streak + 1,
            "flagged": case((Elder.not_home_streak + 1 >= 2, True), else_=Elder.flagged),
        }
    column = Elder.last_visit_at if kind == "visit" else Elder.last_call_at
    return {
        column.key: case((or_(column.is_(None), column < at), at), else_=column),
        "not_home_streak": 0,
        "flagged": False,
    }


# Whether the elder's consent is on record: without it a volunteer's list shows no address.
_CONSENTED = select(Consent.id).where(Consent.elder_id == Elder.id).exists().label("consented")

# The display names of an elder's volunteers as one string (group_concat / string_agg).
_VISITOR_NAMES = (
    select(func.aggregate_strings(Person.display_name, "\x1f"))
    .join(ElderVolunteer, ElderVolunteer.person_id == Person.id)
    .where(ElderVolunteer.elder_id == Elder.id)
    .scalar_subquery()
    .label("visitors")
)


@lru_cache(maxsize=64)
def _due_select(cadence: VisitCadence) -> Select:
    """Active elders due by the day `due_params` names; callers narrow it to a community."""
    return (
        select(
            Elder.id,
            Elder.community_id,
            Elder.name,
            Elder.birth_year,
            Elder.lives_alone,
            Elder.risk,
            Elder.added_at,
            Elder.last_visit_at,
            Elder.last_call_at,
            Elder.flagged,
            Elder.worker_id,
            Elder.address,
            Elder.phone,
            Elder.grid_id,
            Grid.name.label("grid"),
            _CONSENTED,
        )
        .outerjoin(Grid, Grid.id == Elder.grid_id)
        .where(Elder.active.is_(True), due_filter(cadence))
    )


Today = tuple[ZoneInfo, date, VisitCadence]


def _items(
    rows: Iterable[Any],
    days: dict[int, Today],
    full: bool,
    names: dict[int, tuple[str, ...]] | None = None,
) -> list[DueItem]:
    """Due items from `_due_select` rows; `days` gives each community's zone, date and cadence,
    `names` the volunteers of each elder."""
    out: list[DueItem] = []
    for r in rows:
        tz, today, cadence = days[r.community_id]
        due = due_of(
            cadence,
            lives_alone=r.lives_alone,
            risk=r.risk,
            birth_year=r.birth_year,
            added_at=r.added_at,
            last_visit_at=r.last_visit_at,
            last_call_at=r.last_call_at,
            today=today,
            tz=tz,
        )
        found = due.today(today)
        if found is None:
            continue
        kind, when, overdue = found
        rule = cadence.rule(due.kind)
        out.append(
            DueItem(
                r.id,
                r.community_id,
                r.name,
                today.year - r.birth_year,
                r.grid,
                r.grid_id,
                kind,
                when,
                overdue,
                rule.visit if kind == "visit" else rule.call or rule.visit,
                r.flagged,
                r.worker_id,
                r.address if full or r.consented else None,
                r.phone if full else None,
                names.get(r.id, ()) if names else (),
                bool(r.consented),
            )
        )
    return out


def capped(lines: list[Text], limit: int) -> list[Text]:
    """At most `limit` lines, the tail folded into one "… and N more: /visits" line."""
    return lines if len(lines) <= limit else [*lines[:limit], T("visits.more", count=len(lines) - limit)]


def _capped(locale: str, lines: list[Text], limit: int, memo: dict[tuple, str] | None = None) -> list[str]:
    """Rendered in the reader's language: notification parameters are stored as JSON. `memo`
    (one per run and language) renders the pieces lines share ("visit", "2 days overdue") once."""
    pieces = {} if memo is None else memo

    def piece(value: Any) -> Any:
        if not isinstance(value, Text):
            return value
        key = (value.key, *value.params.items())
        try:
            return pieces[key]
        except KeyError:
            pieces[key] = render(locale, value.key, value.params)
            return pieces[key]
        except TypeError:  # a piece holding pieces: rendered as it is
            return render(locale, value.key, value.params)

    return [render(locale, t.key, {k: piece(v) for k, v in t.params.items()}) for t in capped(lines, limit)]


def _grid_lines(locale: str, items: list[DueItem], memo: dict[tuple, str]) -> list[str]:
    """`_capped(locale, by_grid(items, due_line), MORNING_LINES, memo)`, each grid heading and
    elder's line rendered once a run and language: a worker's list and the coordinator's of the
    same grid share them (`memo` holds them beside the pieces)."""
    keyed: list[tuple[tuple, Any]] = []
    current: object = ()
    for item in grid_order(items):
        if item.grid_id != current:
            current = item.grid_id
            heading = T("visits.grid", grid=item.grid) if item.grid else T("visits.no_grid")
            keyed.append((("grid heading", item.grid_id), heading))
        keyed.append((("due line", item.elder_id, item.kind, item.overdue_days), item))
    if len(keyed) > MORNING_LINES:
        more = T("visits.more", count=len(keyed) - MORNING_LINES)
        keyed = [*keyed[:MORNING_LINES], (("more", len(keyed) - MORNING_LINES), more)]
    out = []
    for key, what in keyed:
        line = memo.get(key)
        if line is None:
            text = due_line(what) if isinstance(what, DueItem) else what
            line = memo[key] = _capped(locale, [text], 1, memo)[0]
        out.append(line)
    return out


def _late_lines(items: list[DueItem], communities: dict[int, Community]) -> list[Text]:
    out: list[Text] = []
    current = None
    for item in items:
        if item.community_id != current:
            current = item.community_id
            out.append(T("visits.grid", grid=communities[current].name))
        out.append(
            T("visits.late_line", line=due_line(item, address=False, phone=False, visitors=False), cycle=item.cycle)
        )
    return out
