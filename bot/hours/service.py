"""Service hours: submit, approve (credits points exactly once), reject, worker-recorded logs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session, aliased

from bot.kernel.access import (
    Scope,
    check_role,
    coordinated_grids,
    coordinating,
    coordinators_approve,
    effective_role,
    get_community,
    grid_coordinators,
    has_role,
    require_person_in_scope,
    require_role,
    require_scope,
    role_in,
)
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, days_after
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import AlreadyDecided, IdempotencyConflict, InvalidInput, LooksRepeated, NotAllowed, NotFound
from bot.kernel.i18n import hours
from bot.kernel.reference import ReferenceCache
from bot.kernel.settings import Settings
from bot.ledger.service import Ledger, Ref
from bot.messages.notify import notify, notify_workers
from bot.stars import levels as star_levels
from models import Community, GridCoordinator, Membership, Person, ServiceCategory, ServiceLog

STEP_MINUTES = 15
MIN_MINUTES, MAX_MINUTES = 15, 12 * 60
MAX_MINUTES_PER_DAY = 16 * 60


NOTE_MAX = 500  # characters of a note on a log or a visit


def clean_note(note: str | None) -> str | None:
    """A note as kept: trimmed; longer than NOTE_MAX is refused, never cut without a word."""
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput("error.note_too_long", limit=NOTE_MAX, length=len(note))
    return note or None


def check_minutes(minutes: int) -> None:
    """A duration as service hours take it (15-minute steps, 15 min to 12 h): the one rule for
    hour logs, visits and service requests."""
    if not isinstance(minutes, int) or minutes % STEP_MINUTES:
        raise InvalidInput("error.minutes_step")
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InvalidInput("error.minutes_range")


def check_backdate(when: date, today: date, max_age_days: int, refusal: str | None = None) -> None:
    """The one window for when service happened: not after `today`, at most `max_age_days`
    (settings.service_log_max_age_days) before it. Dates, or datetimes with `today` as now;
    `refusal` is the caller's wording for both ends."""
    if when > today:
        raise InvalidInput(refusal or "error.date_future", days=max_age_days)
    if when < days_after(today, -max_age_days):
        raise InvalidInput(refusal or "error.date_too_old", days=max_age_days)


def points_for(minutes: int, points_per_hour: int) -> int:
    return minutes * points_per_hour // 60


@dataclass(frozen=True)
class LogView:
    id: int
    community_id: int
    person_id: int
    person_name: str
    category: str
    category_en: str
    service_date: date
    minutes: int
    points: int
    status: str
    note: str | None
    recorded_by_worker: bool
    reject_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class Decision:
    log: LogView
    changed: bool  # False when the log had already been decided the same way (a replay)
    balance_after: int | None = None


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    name_en: str
    points_per_hour: int


class HoursService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, ledger: Ledger) -> None:
        self.db, self.settings, self.clock, self.ledger = db, settings, clock, ledger
        self.reference = ReferenceCache()

    @reads
    def categories(self, community_id: int) -> list[Category]:
        """The community's active categories, in order. Kept in the process (`reference`), so
        a step-by-step flow asking at three steps reads them once while they are fresh."""
        kept = self.reference.get("categories", community_id)
        if kept is None:
            kept = self.load_categories(community_id)
        return list(kept)

    @reads
    def load_categories(self, community_id: int) -> tuple[Category, ...]:
        with self.db.read() as session:
            rows = session.execute(_CATEGORIES, {"community_id": community_id}).all()
        found = tuple(Category(*row) for row in rows)
        # A community without categories yet (being set up) is not kept: its first ones show at once.
        return self.reference.put("categories", community_id, found) if found else found

    # --- submitting -------------------------------------------------------------------------

    def submit(
        self,
        person_id: int,
        community_id: int,
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        note: str | None = None,
        photo: str | None = None,
        request_key: str | None = None,
        repeat_ok: bool = True,
    ) -> LogView:
        """A volunteer logs their own hours; the log waits for a worker. With `repeat_ok` False
        (a chat asks before saving the same again), the same category and duration for the same
        day as a log already there is refused as LooksRepeated."""
        return self.db.transaction(
            lambda session: self.submit_in(
                session,
                person_id,
                community_id,
                category_id=category_id,
                service_date=service_date,
                minutes=minutes,
                note=note,
                photo=photo,
                request_key=request_key,
                repeat_ok=repeat_ok,
            )
        )

    def submit_in(
        self,
        session: Session,
        person_id: int,
        community_id: int,
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        note: str | None = None,
        photo: str | None = None,
        request_key: str | None = None,
        repeat_ok: bool = True,
    ) -> LogView:
        """`submit` inside a caller's transaction (a volunteer's visit and its hours are one)."""
        replay = self._by_request_key(session, request_key)
        if replay is not None:
            if replay.person_id != person_id:  # someone else's request: never hand it out
                raise IdempotencyConflict(key=request_key)
            return replay
        view = self._new_log(
            session,
            person_id,
            community_id,
            category_id,
            service_date,
            minutes,
            note,
            photo,
            submitted_by=person_id,
            request_key=request_key,
            need_role="volunteer",
            repeat_ok=repeat_ok,
        )
        tell_deciders(session, self.clock, community_id, [person_id])
        return view

    def record(
        self,
        worker_id: int,
        community_id: int,
        volunteer_ids: list[int],
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        note: str | None = None,
        event_name: str | None = None,
        request_key: str | None = None,
        repeat_ok: bool = True,
    ) -> list[Decision]:
        """A worker records hours for volunteers without a phone (代录) or for a whole event.
        The worker vouches for them, so they are approved at once and marked as recorded.
        Four eyes: hours recorded for a worker wait for a different worker's approval, so two
        workers cannot credit each other on their own word. With `repeat_ok` False, a volunteer's
        log just like this one that day is refused as LooksRepeated (the chat asks first)."""
        if not volunteer_ids:
            raise InvalidInput("error.no_volunteers")
        if len(set(volunteer_ids)) != len(volunteer_ids):
            raise InvalidInput("error.duplicate_volunteers")

        def work(session: Session) -> list[Decision]:
            # A worker, an admin, or a coordinator for the people of their grids (bot.kernel.access).
            scope = require_scope(session, worker_id, community_id)
            vouches = scope.everything or coordinators_approve(get_community(session, community_id))
            decisions, waiting = [], False
            for i, volunteer_id in enumerate(volunteer_ids):
                key = f"{request_key}:{i}" if request_key else None
                replay = self._by_request_key(session, key)
                if replay is not None:
                    if replay.person_id != volunteer_id:
                        raise IdempotencyConflict(key=key)
                    decisions.append(Decision(replay, changed=False))
                    continue
                if volunteer_id == worker_id:
                    raise NotAllowed("error.own_log")
                require_person_in_scope(session, scope, volunteer_id, community_id)
                role = role_in(session, volunteer_id, community_id)
                if role not in ("volunteer", "worker"):
                    raise InvalidInput("error.not_volunteer", person=_name(session, volunteer_id))
                log = self._new_log(
                    session,
                    volunteer_id,
                    community_id,
                    category_id,
                    service_date,
                    minutes,
                    note,
                    None,
                    submitted_by=worker_id,
                    request_key=key,
                    event_name=event_name,
                    repeat_ok=repeat_ok,
                )
                # Four eyes: hours of a worker, or of a coordinator recorded by one, or by a
                # coordinator who may not approve, wait for a (different) worker.
                if (
                    role == "worker"
                    or not vouches
                    or (not scope.everything and coordinated_grids(session, volunteer_id, community_id))
                ):
                    decisions.append(Decision(log, changed=True))
                    waiting = True
                else:
                    decisions.append(self._approve_in(session, worker_id, log.id, vouched=True))
            if waiting:
                notify_workers(
                    session, self.clock, community_id, "notify.pending_logs", coalesce="pending_logs", exclude=worker_id
                )
            return decisions

        return self.db.transaction(work)

    def add_pending(
        self,
        session: Session,
        person_id: int,
        community_id: int,
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        submitted_by: int,
        event_name: str | None,
        request_key: str | None,
        repeat_ok: bool = True,
    ) -> tuple[LogView, bool]:
        """Inside a caller's transaction: a pending log for `person_id` made by someone who is
        not a worker (a team leader), so it waits for a worker like the person's own.
        Returns the log and whether it is new (False: a replay of `request_key`)."""
        replay = self._by_request_key(session, request_key)
        if replay is not None:
            if replay.person_id != person_id:
                raise IdempotencyConflict(key=request_key)
            return replay, False
        if role_in(session, person_id, community_id) not in ("volunteer", "worker"):
            raise InvalidInput("error.not_volunteer", person=_name(session, person_id))
        log = self._new_log(
            session,
            person_id,
            community_id,
            category_id,
            service_date,
            minutes,
            None,
            None,
            submitted_by=submitted_by,
            request_key=request_key,
            event_name=event_name,
            by_worker=False,
            repeat_ok=repeat_ok,
        )
        return log, True

    def _new_log(
        self,
        session: Session,
        person_id: int,
        community_id: int,
        category_id: int,
        service_date: date,
        minutes: int,
        note: str | None,
        photo: str | None,
        *,
        submitted_by: int,
        request_key: str | None,
        event_name: str | None = None,
        need_role: str | None = None,
        repeat_ok: bool = True,
        by_worker: bool | None = None,
    ) -> LogView:
        """Checks and inserts a pending log. `need_role`: the role the person must have, checked
        from the same query that reads the community and category (one round trip, not five)."""
        # The person row is locked here, before the day's minutes are summed in a later statement
        # (which then sees any submission committed meanwhile), so two submissions at once cannot
        # both fit under the day limit on PostgreSQL. SQLite's BEGIN IMMEDIATE already serialises
        # writers; it ignores FOR UPDATE.
        found = session.execute(
            _NEW_LOG_CHECKS, {"person_id": person_id, "community_id": community_id, "category_id": category_id}
        ).first()
        if found is None:
            raise NotFound("error.no_person")
        (
            is_admin,
            role,
            confirmed,
            person_name,
            community,
            tz,
            category_community,
            active,
            points_per_hour,
            category,
            category_en,
        ) = found
        if need_role is not None:
            check_role(
                is_admin, effective_role(role, confirmed), need_role, awaiting=role == "volunteer" and not confirmed
            )
        if community is None:
            raise NotFound("error.no_community")
        if category_community != community_id or not active:
            raise InvalidInput("error.bad_category")
        check_minutes(minutes)
        check_backdate(service_date, self.clock.community(tz).today(), self.settings.service_log_max_age_days)
        # The day's minutes, and a log just like this one that day, in the same statement.
        same_log = and_(
            ServiceLog.community_id == community_id,
            ServiceLog.category_id == category_id,
            ServiceLog.minutes == minutes,
        )
        logged, same = (
            session.execute(
                select(func.coalesce(func.sum(ServiceLog.minutes), 0), func.min(case((same_log, ServiceLog.id)))).where(
                    ServiceLog.person_id == person_id,
                    ServiceLog.service_date == service_date,
                    ServiceLog.status != "rejected",
                )
            )
        ).one()
        if same is not None and not repeat_ok:
            raise LooksRepeated("log.looks_repeated", id=f"H{same}")
        if logged + minutes > MAX_MINUTES_PER_DAY:
            raise InvalidInput("error.day_limit", logged=logged, limit=MAX_MINUTES_PER_DAY)
        note = clean_note(note)
        log = ServiceLog(
            community_id=community_id,
            person_id=person_id,
            category_id=category_id,
            service_date=service_date,
            minutes=minutes,
            points_per_hour=points_per_hour,
            points=points_for(minutes, points_per_hour),
            note=note,
            photo=photo,
            status="pending",
            submitted_by_id=submitted_by,
            recorded_by_worker=submitted_by != person_id if by_worker is None else by_worker,
            event_name=event_name,
            request_key=request_key,
            created_at=self.clock.now(),
        )
        session.add(log)
        session.flush()
        if submitted_by != person_id:  # hours written for someone else (代录, an event, a team)
            audit(
                session,
                self.clock,
                "hours.record",
                submitted_by,
                community_id,
                "log",
                log.id,
                {"minutes": minutes, "date": service_date.isoformat()},
                person_id=person_id,
            )
        return LogView(
            log.id,
            community_id,
            person_id,
            person_name,
            category,
            category_en,
            service_date,
            minutes,
            log.points,
            log.status,
            note,
            log.recorded_by_worker,
            None,
            log.created_at,
        )

    # --- deciding ---------------------------------------------------------------------------

    def approve(self, worker_id: int, log_id: int) -> Decision:
        """Approve and credit the points in one transaction. Approving an approved log again
        is a harmless replay: it credits nothing and reports changed=False."""
        return self.db.transaction(lambda session: self._approve_in(session, worker_id, log_id))

    def _approve_in(self, session: Session, worker_id: int, log_id: int, *, vouched: bool = False) -> Decision:
        """`vouched`: a worker recording a volunteer's hours approves what they just wrote."""
        log = self._decidable(session, worker_id, log_id, vouched=vouched)
        claimed = session.execute(
            update(_LOGS)
            .where(_LOGS.c.id == log_id, _LOGS.c.status == "pending")
            .values(status="approved", decided_by_id=worker_id, decided_at=self.clock.now())
        )
        if rowcount(claimed) != 1:
            return self._already(session, log_id, "approved")
        audit(
            session,
            self.clock,
            "hours.approve",
            worker_id,
            log.community_id,
            "log",
            log_id,
            {"minutes": log.minutes, "points": log.points},
            person_id=log.person_id,
        )
        available = None
        if log.points > 0:
            # The log's minutes join the person's lifetime hours in the same statement as the points.
            earned = self.ledger.earn(
                session,
                community_id=log.community_id,
                person_id=log.person_id,
                amount=log.points,
                key=f"earn:H{log_id}",
                ref=Ref("log", log_id),
                actor_id=worker_id,
                minutes=log.minutes,
            )
            available = earned.credit_available
            if earned.replayed:
                self.ledger.add_minutes(session, log.community_id, log.person_id, log.minutes)
        else:
            self.ledger.add_minutes(session, log.community_id, log.person_id, log.minutes)
        star_levels.on_counted(session, self.clock, log.community_id, log.person_id, log.minutes)
        if available is None:
            available = (self.ledger.balance(session, log.community_id, log.person_id)).available
        view = replace(log, status="approved")
        if not view.recorded_by_worker:
            notify(
                session,
                self.clock,
                log.person_id,
                "notify.log_approved",
                log=log_id,
                points=view.points,
                available=available,
                **_about(view),
            )
        return Decision(view, changed=True, balance_after=available)

    def reject(self, worker_id: int, log_id: int, reason: str) -> Decision:
        reason = " ".join((reason or "").split())[:300]
        if not reason:
            raise InvalidInput("error.reason_required")

        def work(session: Session) -> Decision:
            log = self._decidable(session, worker_id, log_id)
            claimed = session.execute(
                update(_LOGS)
                .where(_LOGS.c.id == log_id, _LOGS.c.status == "pending")
                .values(status="rejected", decided_by_id=worker_id, decided_at=self.clock.now(), reject_reason=reason)
            )
            if rowcount(claimed) != 1:
                return self._already(session, log_id, "rejected")
            audit(
                session,
                self.clock,
                "hours.reject",
                worker_id,
                log.community_id,
                "log",
                log_id,
                {"minutes": log.minutes, "reason": reason},
                person_id=log.person_id,
            )
            balance = self.ledger.balance(session, log.community_id, log.person_id)
            notify(
                session,
                self.clock,
                log.person_id,
                "notify.log_rejected",
                log=log_id,
                reason=reason,
                available=balance.available,
                **_about(log),
            )
            view = replace(log, status="rejected", reject_reason=reason)
            return Decision(view, changed=True, balance_after=balance.available)

        return self.db.transaction(work)

    @reads
    def rejectable(self, worker_id: int, log_id: int) -> LogView:
        """What `reject` would refuse before it is given a reason, so a worker is not asked for
        one in vain: the log must exist, be theirs to decide and still be pending."""
        with self.db.read() as session:
            log = self._decidable(session, worker_id, log_id)
        if log.status != "pending":
            raise AlreadyDecided("error.log_decided", log=log_id, status=log.status)
        return log

    def approve_many(self, worker_id: int, log_ids: list[int]) -> tuple[list[Decision], list[tuple[int, str]]]:
        """Batch approval: each log in its own transaction, so one refusal does not hold up
        the rest. Returns the decisions and (log id, error key) for the refused ones."""
        done, refused = [], []
        for log_id in log_ids:
            try:
                done.append(self.approve(worker_id, log_id))
            except (NotAllowed, NotFound, AlreadyDecided) as exc:
                refused.append((log_id, exc.key))
        return done, refused

    def _decidable(self, session: Session, worker_id: int, log_id: int, *, vouched: bool = False) -> LogView:
        """The log as it is before the decision, and the worker's right to decide it: one query.
        Nobody decides their own hours, nor (four eyes) hours they recorded for a worker."""
        found = session.execute(_DECIDABLE, {"worker_id": worker_id, "log_id": log_id}).first()
        if found is None:
            raise NotFound("error.no_log", log=log_id)
        log, (actor_id, is_admin, role, confirmed, submitted_by) = LogView(*found[:_VIEW_WIDTH]), found[_VIEW_WIDTH:]
        if actor_id is None:
            raise NotFound("error.no_person")
        if not has_role(is_admin, effective_role(role, confirmed), "worker"):
            self._coordinator_decides(session, worker_id, log)
        if log.person_id == worker_id:
            raise NotAllowed("error.own_log")
        if log.recorded_by_worker and submitted_by == worker_id and not vouched:
            raise NotAllowed("error.own_record")
        return log

    @staticmethod
    def _coordinator_decides(session: Session, actor_id: int, log: LogView) -> None:
        """A coordinator decides the hours of their grid's volunteers where the community lets
        them; never a worker's or a fellow coordinator's (those wait for a worker)."""
        scope = require_scope(session, actor_id, log.community_id)
        if log.person_id == actor_id:
            raise NotAllowed("error.own_log")
        if not coordinators_approve(get_community(session, log.community_id)):
            raise NotAllowed("grids.error.approve_off")
        require_person_in_scope(session, scope, log.person_id, log.community_id)
        if role_in(session, log.person_id, log.community_id) != "volunteer" or coordinated_grids(
            session, log.person_id, log.community_id
        ):
            raise NotAllowed("error.need_worker")

    def _already(self, session: Session, log_id: int, wanted: str) -> Decision:
        view = self._view(session, log_id)
        if view.status != wanted:
            raise AlreadyDecided("error.log_decided", log=log_id, status=view.status)
        return Decision(view, changed=False)

    # --- reading ----------------------------------------------------------------------------

    @reads
    def pending(self, worker_id: int, community_id: int, limit: int = 50) -> list[LogView]:
        """Logs waiting for a decision, oldest first (上不过午，下不过夜)."""
        with self.db.read() as session:
            scope = require_scope(session, worker_id, community_id)
            stmt = _VIEW.where(ServiceLog.community_id == community_id, ServiceLog.status == "pending")
            if not scope.everything:
                stmt = stmt.where(ServiceLog.person_id.in_(self._decidable_by(session, scope, community_id)))
            return _views(session, stmt.order_by(ServiceLog.created_at, ServiceLog.id).limit(limit))

    @staticmethod
    def _decidable_by(session: Session, scope: Scope, community_id: int) -> Any:
        """The people whose hours a coordinator decides (see `_coordinator_decides`): the
        volunteers of their grids who coordinate no grid; refused where the community says no."""
        if not coordinators_approve(get_community(session, community_id)):
            raise NotAllowed("grids.error.approve_off")
        return select(Membership.person_id).where(
            Membership.community_id == community_id,
            Membership.grid_id.in_(sorted(scope.grids)),
            Membership.role == "volunteer",
            Membership.person_id.not_in(
                coordinating(GridCoordinator.person_id).where(GridCoordinator.community_id == community_id)
            ),
        )

    @reads
    def logs_of(
        self,
        person_id: int,
        community_id: int,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
        served: tuple[date, date] | None = None,
    ) -> list[LogView]:
        """Newest first; `served`: only service dates from the first day to the last (a
        month's statement)."""
        stmt = _VIEW.where(ServiceLog.person_id == person_id, ServiceLog.community_id == community_id)
        if status:
            stmt = stmt.where(ServiceLog.status == status)
        if served is not None:
            stmt = stmt.where(ServiceLog.service_date >= served[0], ServiceLog.service_date <= served[1])
        with self.db.read() as session:
            return _views(session, stmt.order_by(ServiceLog.id.desc()).offset(offset).limit(limit))

    @reads
    def get(self, viewer_id: int, log_id: int) -> LogView:
        """One log, for its volunteer or a worker of its community: the id comes from the chat."""
        with self.db.read() as session:
            view = self._view(session, log_id)
            if view.person_id != viewer_id:
                require_role(session, viewer_id, view.community_id, "worker")
            return view

    def _by_request_key(self, session: Session, request_key: str | None) -> LogView | None:
        if not request_key:
            return None
        log_id = session.scalar(_BY_REQUEST_KEY, {"request_key": request_key})
        return None if log_id is None else self._view(session, log_id)

    @staticmethod
    def _view(session: Session, log_id: int) -> LogView:
        found = _views(session, _VIEW.where(ServiceLog.id == log_id))
        if not found:
            raise NotFound("error.no_log", log=log_id)
        return found[0]


_LOGS = ServiceLog.__table__
# Workers decide on real people: the registered real name when there is one.
_NAME = func.coalesce(Person.real_name, Person.display_name)
# A LogView's columns, in its fields' order (plain columns: no ORM objects to build).
_VIEW = (
    select(
        ServiceLog.id,
        ServiceLog.community_id,
        ServiceLog.person_id,
        _NAME,
        ServiceCategory.name,
        ServiceCategory.name_en,
        ServiceLog.service_date,
        ServiceLog.minutes,
        ServiceLog.points,
        ServiceLog.status,
        ServiceLog.note,
        ServiceLog.recorded_by_worker,
        ServiceLog.reject_reason,
        ServiceLog.created_at,
    )
    .join(Person, Person.id == ServiceLog.person_id)
    .join(ServiceCategory, ServiceCategory.id == ServiceLog.category_id)
)
_VIEW_WIDTH = len(_VIEW.selected_columns)
# Built once: a Category's fields, in order.
_CATEGORIES = (
    select(ServiceCategory.id, ServiceCategory.name, ServiceCategory.name_en, ServiceCategory.points_per_hour)
    .where(ServiceCategory.community_id == bindparam("community_id"), ServiceCategory.active.is_(True))
    .order_by(ServiceCategory.position, ServiceCategory.id)
)


def _views(session: Session, stmt) -> list[LogView]:
    return [LogView(*row[:_VIEW_WIDTH]) for row in (session.execute(stmt)).all()]


def _name(session: Session, person_id: int) -> str:
    person = session.get(Person, person_id)
    return person.display_name if person else str(person_id)


def _about(log: LogView) -> dict[str, Any]:
    """What a notice about a log names, so the volunteer knows which one it is."""
    return {
        "category": {"zh-CN": log.category, "en": log.category_en},
        "date": log.service_date.isoformat(),
        "hours": hours(log.minutes),
    }


# Built once; a call only binds its values.
_BY_REQUEST_KEY = select(ServiceLog.id).where(ServiceLog.request_key == bindparam("request_key"))
# Who submits, their role, the community's zone and the category: one statement. The person row is
# locked (see _new_log).
_NEW_LOG_CHECKS = (
    select(
        Person.is_admin,
        Membership.role,
        Membership.confirmed,
        _NAME,
        Community.id,
        Community.timezone,
        ServiceCategory.community_id,
        ServiceCategory.active,
        ServiceCategory.points_per_hour,
        ServiceCategory.name,
        ServiceCategory.name_en,
    )
    .select_from(Person)
    .outerjoin(
        Membership, and_(Membership.person_id == Person.id, Membership.community_id == bindparam("community_id"))
    )
    .outerjoin(Community, Community.id == bindparam("community_id"))
    .outerjoin(ServiceCategory, ServiceCategory.id == bindparam("category_id"))
    .where(Person.id == bindparam("person_id"))
    .with_for_update(of=Person)
)
_ACTOR = aliased(Person)
# The log as it is before a decision, and the deciding worker's right to decide it.
_DECIDABLE = (
    _VIEW.add_columns(_ACTOR.id, _ACTOR.is_admin, Membership.role, Membership.confirmed, ServiceLog.submitted_by_id)
    .outerjoin(_ACTOR, _ACTOR.id == bindparam("worker_id"))
    .outerjoin(
        Membership,
        and_(Membership.person_id == bindparam("worker_id"), Membership.community_id == ServiceLog.community_id),
    )
    .where(ServiceLog.id == bindparam("log_id"))
)


def tell_deciders(session: Session, clock: Clock, community_id: int, volunteer_ids: list[int]) -> None:
    """New hour logs of these volunteers wait: the workers hear, and where coordinators approve,
    the coordinators of the volunteers' grids (not one about their own log: they cannot approve it)."""
    notify_workers(session, clock, community_id, "notify.pending_logs", coalesce="pending_logs")
    if not coordinators_approve(get_community(session, community_id)):
        return
    grids = session.scalars(
        select(Membership.grid_id)
        .where(Membership.community_id == community_id, Membership.person_id.in_(volunteer_ids))
        .where(Membership.grid_id.is_not(None))
        .distinct()
    )
    told = {c for grid_id in grids for c in grid_coordinators(session, community_id, grid_id)} - set(volunteer_ids)
    for coordinator in sorted(told):
        notify(session, clock, coordinator, "notify.pending_logs", coalesce="pending_logs")
