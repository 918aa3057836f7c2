"""QR check-in at the elder's door and the wellbeing loop after a visit.

- Door cards: a worker (or the operator, for a whole grid) prints them; each print makes the
  elder's next card generation, so the card it replaces stops working.
- Check-in: the token a scan brings is checked (signature, generation, the elder active, the
  scanner allowed to visit them, all re-read now) and the moment is recorded; the visit that
  completes it in the chat is a verified visit record (see VisitsService.record).
- Wellbeing: after a visit, three answers (精神, 身体, 需要) and a note for the next visitor, each
  saved as it comes. A poor mood or a doctor needed alerts at once and waits for a worker under
  the deadline rule (上不过午、下不过夜) until acknowledged (`/ack`); a need becomes a service
  request a worker posts with one tap (`/need T12`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.elders.service import elder_access, get_elder, require_worker, told_of_elder
from bot.hours.service import clean_note
from bot.kernel.access import EVERYTHING, check_grid, get_community, require_scope, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.contact import contact_of, set_contact
from bot.kernel.db import Database, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.messages.notify import notify
from bot.visits.cards import Card, check_ok, make_token, parse_token
from models import AuditEntry, Elder, Grid, Person, VisitAlert, VisitCheckin, VisitRecord
from models.visits import HEALTHS, MOODS, NEEDS

QUESTIONS = {"mood": MOODS, "health": HEALTHS, "need": NEEDS}
WORRYING = {"mood": "poor", "health": "doctor"}
RECENT_PRINTS = 20  # a repeated form is looked for among the person's last prints
OPEN_CHECKIN = timedelta(hours=12)  # a check-in a later `/visit` of the same elder completes


@dataclass(frozen=True)
class CheckedIn:
    checkin_id: int
    community_id: int
    elder_id: int
    elder_name: str
    at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class Wellbeing:
    """The last answers given about an elder, for the next visitor and the report."""

    visit_id: int
    at: datetime
    by: str
    mood: str | None
    health: str | None
    need: str | None
    next_note: str | None


@dataclass(frozen=True)
class Answered:
    visit_id: int
    elder_id: int
    elder_name: str
    question: str
    value: str
    alert_id: int | None = None
    notified: tuple[str, ...] = ()  # the people told at once


@dataclass(frozen=True)
class Need:
    visit_id: int
    elder_id: int
    elder_name: str
    community_id: int
    need: str
    note: str | None
    address: str
    grid_id: int | None
    elder_person_id: int | None
    request_id: int | None

    @property
    def ref(self) -> str:
        return f"T{self.visit_id}"


class Checkins:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    # --- the help line and the cards ---------------------------------------------------------

    def help_line(self, community_id: int) -> str | None:
        with self.db.uow() as session:
            return contact_of(get_community(session, community_id))

    def set_help_line(self, actor_id: int, community_id: int, text: str) -> str:
        def work(session: Session) -> str:
            require_worker(session, actor_id, community_id)
            return set_contact(session, self.clock, actor_id, get_community(session, community_id), text) or ""

        return self.db.transaction(work)

    def print_cards(
        self,
        actor_id: int | None,
        community_id: int,
        *,
        elder_id: int | None = None,
        grid: str | None = None,
        request_key: str | None = None,
    ) -> list[Card]:
        """New cards for one elder, a grid's elders or every active elder of the community:
        each gets its next generation (earlier cards stop working). `actor_id` None: the
        operator (the CLI). A grid coordinator prints their grids' cards only: without a grid
        named, every elder of their grids. The same `request_key` again (a form sent twice)
        prints the cards in force, making none."""

        def work(session: Session) -> list[Card]:
            scope = EVERYTHING if actor_id is None else require_scope(session, actor_id, community_id)
            # What was asked, with its key: the same form sent again (not one changed and resent).
            asked = None if request_key is None else {"key": request_key, "grid": grid, "elder": elder_id}
            if asked is not None and actor_id is not None:  # the same form in two processes: one at a time
                session.execute(select(Person.id).where(Person.id == actor_id).with_for_update())
            again = asked is not None and _printed(session, actor_id, community_id, asked)
            community = get_community(session, community_id)
            stmt = (
                select(Elder, Grid.name)
                .outerjoin(Grid, Grid.id == Elder.grid_id)
                .where(Elder.community_id == community_id, Elder.active.is_(True))
                .order_by(Grid.name, Elder.name, Elder.id)
            )
            if elder_id is not None:
                elder = get_elder(session, elder_id)
                if elder.community_id != community_id:
                    raise NotFound("visits.error.no_elder", ref=f"E{elder_id}")
                check_grid(scope, elder.grid_id)
                if not elder.active:
                    raise InvalidInput("visits.error.retired", ref=f"E{elder_id}")
                stmt = stmt.where(Elder.id == elder_id)
            if grid is not None:
                grid_id = session.scalar(select(Grid.id).where(Grid.community_id == community_id, Grid.name == grid))
                if grid_id is None or not scope.covers(grid_id):  # another's grid is not named either
                    raise NotFound("cards.no_grid", grid=grid)
                stmt = stmt.where(Elder.grid_id == grid_id)
            if not scope.everything:
                stmt = stmt.where(Elder.grid_id.in_(sorted(scope.grids)))
            cards = []
            help_line = contact_of(community)
            for elder, grid_name in session.execute(stmt).all():
                check_grid(scope, elder.grid_id)
                if elder.card_key is None:
                    elder.card_key = secrets.token_urlsafe(24)
                if not again:
                    elder.card_generation += 1
                token = make_token(elder.card_key, elder.id, elder.card_generation)
                cards.append(
                    Card(elder.id, elder.name, grid_name, community.name, help_line, token, elder.card_generation)
                )
            if not cards:
                raise NotFound("cards.none")
            if not again:
                details: dict[str, Any] = {"elders": [c.elder_id for c in cards][:50], "count": len(cards)}
                audit(session, self.clock, "elder.cards", actor_id, community_id, details={**details, **(asked or {})})
            return cards

        return self.db.transaction(work)

    # --- checking in -------------------------------------------------------------------------

    def check_in(self, actor_id: int, token: str, request_key: str | None = None) -> CheckedIn:
        parsed = parse_token(token)
        if parsed is None:
            raise InvalidInput("checkin.bad_card")
        elder_id, generation, check = parsed

        def work(session: Session) -> CheckedIn:
            if request_key:
                found = session.scalar(select(VisitCheckin).where(VisitCheckin.request_key == request_key))
                if found is not None and found.person_id == actor_id:
                    name = get_elder(session, found.elder_id).name
                    return CheckedIn(found.id, found.community_id, found.elder_id, name, found.at, replayed=True)
            elder = session.get(Elder, elder_id)
            if elder is None or elder.card_key is None or not check_ok(elder.card_key, elder_id, generation, check):
                raise InvalidInput("checkin.bad_card")
            if generation != elder.card_generation:
                raise InvalidInput("checkin.old_card", ref=f"E{elder.id}")
            if not elder.active:
                raise InvalidInput("visits.error.retired", ref=f"E{elder.id}")
            if role_in(session, actor_id, elder.community_id) not in ("volunteer", "worker"):
                raise NotAllowed("checkin.not_visitor")
            elder_access(session, actor_id, elder)  # a worker of the community or an assigned volunteer
            now = self.clock.now()
            row = VisitCheckin(
                community_id=elder.community_id,
                elder_id=elder.id,
                person_id=actor_id,
                generation=generation,
                at=now,
                request_key=request_key,
            )
            session.add(row)
            session.flush()
            return CheckedIn(row.id, elder.community_id, elder.id, elder.name, now)

        return self.db.transaction(work)

    def open_checkin(self, actor_id: int, elder_id: int) -> int | None:
        """The actor's latest check-in at the elder's door within OPEN_CHECKIN not yet made a
        visit: a visit recorded afterwards with `/visit` (the chat's draft timed out, say) still
        counts as verified."""
        since = self.clock.now() - OPEN_CHECKIN
        with self.db.uow() as session:
            return session.scalar(
                select(VisitCheckin.id)
                .where(
                    VisitCheckin.person_id == actor_id,
                    VisitCheckin.elder_id == elder_id,
                    VisitCheckin.visit_id.is_(None),
                    VisitCheckin.at >= since,
                )
                .order_by(VisitCheckin.id.desc())
                .limit(1)
            )

    # --- the wellbeing loop ------------------------------------------------------------------

    def last_wellbeing(self, viewer_id: int, elder_id: int) -> Wellbeing | None:
        """The last visit's answers and note for the next visitor (anyone who may see the elder)."""
        with self.db.uow() as session:
            elder = get_elder(session, elder_id)
            elder_access(session, viewer_id, elder)
            return last_answers(session, [elder_id]).get(elder_id)

    def _own_visit(self, session: Session, actor_id: int, visit_id: int) -> tuple[VisitRecord, Elder]:
        visit = session.get(VisitRecord, visit_id)
        if visit is None or visit.person_id != actor_id:
            raise NotFound("visits.error.no_visit", ref=f"T{visit_id}")
        elder = get_elder(session, visit.elder_id)
        elder_access(session, actor_id, elder)  # still allowed to visit them
        return visit, elder

    def answer(self, actor_id: int, visit_id: int, question: str, value: str) -> Answered:
        """One wellbeing answer on the visitor's own record, saved now; a worrying one alerts the
        workers at once (one alert a visit) and waits for them under the deadline rule."""
        if value not in QUESTIONS.get(question, ()):
            raise InvalidInput("wellbeing.bad_answer")

        def work(session: Session) -> Answered:
            visit, elder = self._own_visit(session, actor_id, visit_id)
            setattr(visit, question, value)
            told: list[str] = []
            alert_id = None
            if WORRYING.get(question) == value:
                # One alert a visit (a "needs help" outcome may have raised it already); each
                # worrying answer is told, a doctor needed after poor spirits too.
                alert_id = session.scalar(select(VisitAlert.id).where(VisitAlert.visit_id == visit.id))
                if alert_id is None:
                    alert = VisitAlert(
                        community_id=elder.community_id,
                        elder_id=elder.id,
                        visit_id=visit.id,
                        raised_at=self.clock.now(),
                        reason="wellbeing",
                    )
                    session.add(alert)
                    session.flush()
                    alert_id = alert.id
                key = f"wellbeing.notify.alert_{question}"
                told = self._tell(session, elder, visit, actor_id, key, alert=f"A{alert_id}")
            elif question == "need" and value != "nothing":
                key = f"wellbeing.notify.need_{value}"
                told = self._tell(session, elder, visit, actor_id, key, visit=f"T{visit.id}")
            return Answered(visit.id, elder.id, elder.name, question, value, alert_id, tuple(told))

        return self.db.transaction(work)

    def _tell(
        self, session: Session, elder: Elder, record: VisitRecord, actor_id: int, key: str, **params: str
    ) -> list[str]:
        reporter = session.get(Person, actor_id)
        told = []
        for person_id, name in told_of_elder(session, elder, actor_id, assigned=False):
            notify(
                session,
                self.clock,
                person_id,
                key,
                ref=f"E{elder.id}",
                name=elder.name,
                address=elder.address,
                phone=elder.phone or "—",
                by=reporter.display_name if reporter else "—",
                note=record.note or "—",
                **params,
            )
            told.append(name)
        return told

    def set_next_note(self, actor_id: int, visit_id: int, text: str | None) -> None:
        note = clean_note(" ".join((text or "").split())) if text else None

        def work(session: Session) -> None:
            visit, _ = self._own_visit(session, actor_id, visit_id)
            visit.next_note = note

        self.db.transaction(work)

    # --- needs become service requests ---------------------------------------------------------

    def open_needs(self, worker_id: int, community_id: int, limit: int = 20) -> list[Need]:
        with self.db.uow() as session:
            require_worker(session, worker_id, community_id)
            visits = session.scalars(
                select(VisitRecord)
                .where(
                    VisitRecord.community_id == community_id,
                    VisitRecord.need.in_(("shopping", "repairs", "other")),
                    VisitRecord.need_request_id.is_(None),
                )
                .order_by(VisitRecord.id.desc())
                .limit(limit)
            ).all()
            return [_need(session, v) for v in visits]

    def need(self, worker_id: int, visit_id: int) -> Need:
        """A visit's need, for a worker of the elder's community (re-checked on every tap)."""
        with self.db.uow() as session:
            visit = session.get(VisitRecord, visit_id)
            if visit is None or visit.need in (None, "nothing"):
                raise NotFound("wellbeing.no_need", ref=f"T{visit_id}")
            if role_in(session, worker_id, visit.community_id) != "worker":
                raise NotAllowed("error.need_worker")
            return _need(session, visit)

    def link_need(self, worker_id: int, visit_id: int, request_id: int) -> bool:
        """The request posted for a visit's need; False when one was linked already."""

        def work(session: Session) -> bool:
            visit = session.get(VisitRecord, visit_id)
            if visit is None or role_in(session, worker_id, visit.community_id) != "worker":
                raise NotAllowed("error.need_worker")
            done = session.execute(
                update(VisitRecord)
                .where(VisitRecord.id == visit_id, VisitRecord.need_request_id.is_(None))
                .values(need_request_id=request_id)
            )
            return rowcount(done) > 0

        return self.db.transaction(work)


def _need(session: Session, visit: VisitRecord) -> Need:
    elder = get_elder(session, visit.elder_id)
    assert visit.need is not None
    return Need(
        visit.id,
        elder.id,
        elder.name,
        elder.community_id,
        visit.need,
        visit.next_note or visit.note,
        elder.address,
        elder.grid_id,
        elder.person_id,
        visit.need_request_id,
    )


def last_answers(session: Session, elder_ids: list[int]) -> dict[int, Wellbeing]:
    """Each elder's latest visit record with a wellbeing answer or a note for the next visitor."""
    answered = (VisitRecord.mood.is_not(None)) | (VisitRecord.next_note.is_not(None))
    latest = (
        select(VisitRecord.elder_id, func.max(VisitRecord.id).label("id"))
        .where(VisitRecord.elder_id.in_(elder_ids), answered)
        .group_by(VisitRecord.elder_id)
        .subquery()
    )
    rows = session.execute(
        select(VisitRecord, Person.display_name)
        .join(latest, latest.c.id == VisitRecord.id)
        .join(Person, Person.id == VisitRecord.person_id)
    ).all()
    return {v.elder_id: Wellbeing(v.id, v.at, name, v.mood, v.health, v.need, v.next_note) for v, name in rows}


def wellbeing_items(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    """Worrying wellbeing answers as decisions on time count them (a source of WAITING_SOURCES):
    from the alert until a worker acknowledges it; about the visitor who raised it."""
    a = VisitAlert
    stmt = (
        select(a.id, a.community_id, VisitRecord.person_id, Person.display_name, a.raised_at, a.acknowledged_at)
        .add_columns(a.acknowledged_by_id)
        .join(VisitRecord, VisitRecord.id == a.visit_id)
        .join(Person, Person.id == VisitRecord.person_id)
        .where(a.community_id.in_(community_ids), a.reason == "wellbeing")
    )
    if start is None:
        stmt = stmt.where(a.acknowledged_at.is_(None))
    else:
        stmt = stmt.where(a.raised_at < end, (a.acknowledged_at.is_(None)) | (a.acknowledged_at >= start))
    return [Item(f"A{i}", c, p, n, at, ended, by) for i, c, p, n, at, ended, by in session.execute(stmt)]


WAITING_SOURCES.append(wellbeing_items)


def _printed(session: Session, actor_id: int | None, community_id: int, asked: dict[str, Any]) -> bool:
    """Whether these cards were printed already for this request (its audit entry says so)."""
    recent = session.scalars(
        select(AuditEntry.details)
        .where(
            AuditEntry.action == "elder.cards",
            AuditEntry.community_id == community_id,
            AuditEntry.actor_id == actor_id,
        )
        .order_by(AuditEntry.id.desc())
        .limit(RECENT_PRINTS)
    )
    return any(all((details or {}).get(k) == v for k, v in asked.items()) for details in recent)
