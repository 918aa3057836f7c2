"""Service requests (积分换服务): a neighbour asks for a service, a volunteer takes it, does it,
and is paid in points when the requester confirms.

Who pays: the requester's own points (held at once), the community pool (held when a worker
approves), or the community as for any logged hours (a pending log a worker approves). A hold
goes to the community's `services` account; when the request is paid the hold posts there and
the account passes it on: to the volunteer what was earned (capped at the hold plus a top-up
the payer agreed to), back to the payer the rest. Every ledger move has a key from the request
(`request:Q7:hold`, `:post`, `:pay`, `:refund`, `:topup`, `:void`, `:expire`), and every change
of state claims the request with a guarded status UPDATE, so the first taker wins, a second
press changes nothing and no request pays twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.family.service import proxy_role, tell_of_proxy, why_not
from bot.hours.service import HoursService, check_minutes, points_for
from bot.kernel.access import check_role, effective_role, get_community, get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month, at_local, day_start, days_after, local_date
from bot.kernel.db import Database, claim, reads, rowcount
from bot.kernel.errors import AlreadyDecided, IdempotencyConflict, InvalidInput, NotAllowed, NotFound
from bot.kernel.i18n import T, Text, render
from bot.kernel.i18n import hours as _hours
from bot.kernel.numerals import numeral_order
from bot.kernel.settings import Settings
from bot.ledger.service import Ledger, Ref
from bot.messages.notify import notify, notify_workers, withdraw
from bot.reports.service import Column, Sheet
from bot.stars import levels as star_levels
from models import Community, Grid, Membership, Person, ServiceCategory, ServiceLog, ServiceRequest
from models.requests import PAYERS, SLOTS

MAX_DAYS_AHEAD = 60
NOTE_MAX, ADDRESS_MAX = 300, 200
# A volunteer's "done" unanswered this long goes to a worker (and the worker may settle it).
ANSWER_DAYS = 3
# Open requests nobody took for this long are in the workers' morning message.
UNTAKEN_DAYS = 2
MORNING_LINES = 30
# When each time of day is over ("any": at the day's end). A taken request not marked done by
# then waits: a deadline item, and its volunteer and requester are reminded every morning.
SLOT_ENDS = {"morning": time(12, 0), "noon": time(14, 0), "afternoon": time(18, 0), "evening": time(22, 0)}
# Statuses in which the request still holds points.
HOLDING = ("open", "taken", "done", "disputed")
_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class NewRequest:
    """What a request is made of. `requester_id`: the person it is for; `poster_id`: who typed
    it (the same person, a family member acting for them, or a worker)."""

    requester_id: int
    poster_id: int
    community_id: int
    category_id: int
    service_date: date
    slot: str
    minutes: int
    payer: str = "own"
    note: str | None = None
    address: str | None = None
    grid_id: int | None = None
    request_key: str | None = None


@dataclass(frozen=True)
class RequestView:
    id: int
    community_id: int
    requester_id: int
    requester_name: str
    poster_id: int
    category: str
    category_en: str
    service_date: date
    slot: str
    minutes: int
    note: str | None
    grid: str | None
    address: str | None  # None unless the viewer may see it (the taker, the requester, workers)
    payer: str
    held: int
    points_per_hour: int
    status: str
    taker_id: int | None
    taker_name: str | None
    done_minutes: int | None
    paid: int | None
    service_log_id: int | None
    reason: str | None
    created_at: datetime
    done_at: datetime | None
    disputed_at: datetime | None
    accepted_by_id: int | None = None  # a worker's confirmation waiting for a second worker
    overdue_since: datetime | None = None  # taken, its time over and not marked done: since when

    @property
    def ref(self) -> str:
        return f"Q{self.id}"

    @property
    def waiting_since(self) -> datetime:
        """When it came to the workers: asked of the pool, disputed, or left unanswered."""
        if self.status == "disputed" and self.disputed_at is not None:
            return self.disputed_at
        if self.status == "taken" and self.overdue_since is not None:
            return self.overdue_since
        if self.status == "done" and self.done_at is not None:
            return self.done_at if self.accepted_by_id else self.done_at + timedelta(days=ANSWER_DAYS)
        return self.created_at

    @property
    def earned(self) -> int:
        """Points the done hours are worth at the request's rate."""
        return points_for(self.done_minutes or 0, self.points_per_hour)


@dataclass(frozen=True)
class Outcome:
    request: RequestView
    changed: bool  # False when it was already so (a second press, a redelivered update)


@dataclass(frozen=True)
class Board:
    requests: list[RequestView]
    page: int
    has_more: bool


@dataclass(frozen=True)
class Morning:
    communities: int
    messages: int


def check_payer(payer: str) -> str:
    if payer not in PAYERS:
        raise InvalidInput("error.request_bad_payer")
    return payer


def request_key(r: ServiceRequest | int, phase: str) -> str:
    """The ledger key of one move of a request: a replay reuses it, so the ledger moves once."""
    return f"request:Q{r if isinstance(r, int) else r.id}:{phase}"


class RequestsService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, ledger: Ledger, hours: HoursService) -> None:
        self.db, self.settings, self.clock, self.ledger, self.hours = db, settings, clock, ledger, hours

    # --- posting ----------------------------------------------------------------------------

    def post(self, new: NewRequest) -> Outcome:
        """Check and store a request; own points are held at once, a pool request waits for a
        worker. The same request key again returns the first request."""
        check_payer(new.payer)
        if new.slot not in SLOTS:
            raise InvalidInput("error.request_bad_slot")
        check_minutes(new.minutes)
        note = " ".join((new.note or "").split())[:NOTE_MAX] or None
        address = " ".join((new.address or "").split())
        if len(address) > ADDRESS_MAX:
            raise InvalidInput("error.request_address_long", max=ADDRESS_MAX)

        def work(session: Session) -> Outcome:
            if new.request_key:
                found = session.scalar(select(ServiceRequest).where(ServiceRequest.request_key == new.request_key))
                if found is not None:
                    if (found.requester_id, found.poster_id, found.category_id) != (
                        new.requester_id,
                        new.poster_id,
                        new.category_id,
                    ):
                        raise IdempotencyConflict(key=new.request_key)
                    return Outcome(_view(session, found.id, new.poster_id), changed=False)
            proxy = None
            if new.poster_id == new.requester_id:
                require_role(session, new.poster_id, new.community_id, "resident")
            else:
                # A linked family member acting for the relative (`/as NAME`), or a worker for a
                # member without a chat of their own: both people are recorded.
                if role_in(session, new.requester_id, new.community_id) is None:
                    raise NotFound("error.no_person")
                proxy = proxy_role(session, new.poster_id, new.requester_id)
                if proxy is None:
                    raise why_not(session, new.poster_id, new.requester_id)
            community = get_community(session, new.community_id)
            today = _today(self.clock, community)
            if not today <= new.service_date <= days_after(today, MAX_DAYS_AHEAD):
                raise InvalidInput("error.request_bad_date", days=MAX_DAYS_AHEAD)
            category = session.get(ServiceCategory, new.category_id)
            if category is None or category.community_id != new.community_id or not category.active:
                raise InvalidInput("error.bad_category")
            if new.grid_id is not None:
                grid = session.get(Grid, new.grid_id)
                if grid is None or grid.community_id != new.community_id:
                    raise InvalidInput("error.request_bad_grid")
            held = 0 if new.payer == "community" else points_for(new.minutes, category.points_per_hour)
            # A worker spending a member's points waits for a second worker (the points are held
            # meanwhile), as a pool request does.
            second = new.payer == "pool" or (proxy == "worker" and new.payer == "own" and held > 0)
            r = ServiceRequest(
                community_id=new.community_id,
                requester_id=new.requester_id,
                poster_id=new.poster_id,
                category_id=new.category_id,
                service_date=new.service_date,
                slot=new.slot,
                minutes=new.minutes,
                note=note,
                grid_id=new.grid_id,
                address=address or None,
                payer=new.payer,
                points_per_hour=category.points_per_hour,
                held=held,
                status="approval" if second else "open",
                request_key=new.request_key,
                created_at=self.clock.now(),
            )
            session.add(r)
            session.flush()
            if new.payer == "own" and held:
                hold = self.ledger.hold(
                    session,
                    community_id=r.community_id,
                    person_id=r.requester_id,
                    amount=held,
                    key=request_key(r, "hold"),
                    ref=Ref("request", r.id),
                    counterparty="services",
                    kind="service",
                    actor_id=new.poster_id,
                )
                r.hold_transfer_id = hold.id
            if r.status == "approval":
                notify_workers(
                    session,
                    self.clock,
                    r.community_id,
                    "requests.notify.needs_pool",
                    coalesce="pending_requests",
                    exclude=new.poster_id,
                )
            session.flush()
            view = _view(session, r.id, new.poster_id)
            if proxy is not None:
                tell_of_proxy(
                    session,
                    self.clock,
                    "request",
                    new.poster_id,
                    new.requester_id,
                    r.community_id,
                    ("request", r.id),
                    id=view.ref,
                    category=view.category,
                    points=held,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    # --- the pool: a worker funds it or not ----------------------------------------------------

    def approve_pool(self, worker_id: int, request_id: int) -> Outcome:
        def work(session: Session) -> Outcome:
            r = self._pool_request(session, worker_id, request_id)
            if not self._claim(
                session, r, ("approval",), status="open", pool_decided_by_id=worker_id, pool_decided_at=self.clock.now()
            ):
                return self._already(session, r.id, worker_id, "open")
            if r.payer == "own":  # a worker's request for a member: held when posted
                audit(
                    session,
                    self.clock,
                    "proxy.approve",
                    worker_id,
                    r.community_id,
                    "request",
                    r.id,
                    {"for": r.requester_id, "by": r.poster_id, "held": r.held},
                )
                view = _view(session, r.id, worker_id)
                self._tell_requester(session, view, "requests.notify.second_approved")
                return Outcome(view, changed=True)
            hold = self.ledger.hold(
                session,
                community_id=r.community_id,
                person_id=r.requester_id,
                amount=r.held,
                key=request_key(r, "hold"),
                ref=Ref("request", r.id),
                counterparty="services",
                kind="service",
                actor_id=worker_id,
                from_pool=True,
            )
            session.execute(
                update(ServiceRequest)
                .where(ServiceRequest.id == r.id)
                .values(hold_transfer_id=hold.id)
                .execution_options(**_SYNC)
            )
            audit(
                session,
                self.clock,
                "service_request.grant",
                worker_id,
                r.community_id,
                "request",
                r.id,
                {"held": r.held},
            )
            view = _view(session, r.id, worker_id)
            self._tell_requester(session, view, "requests.notify.pool_approved")
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def refuse_pool(self, worker_id: int, request_id: int, reason: str) -> Outcome:
        reason = _reason(reason)

        def work(session: Session) -> Outcome:
            r = self._pool_request(session, worker_id, request_id)
            now = self.clock.now()
            if not self._claim(
                session,
                r,
                ("approval",),
                status="refused",
                pool_decided_by_id=worker_id,
                pool_decided_at=now,
                reason=reason,
                closed_at=now,
            ):
                return self._already(session, r.id, worker_id, "refused")
            audit(
                session,
                self.clock,
                "service_request.refuse",
                worker_id,
                r.community_id,
                "request",
                r.id,
                {"reason": reason},
                person_id=r.requester_id,
            )
            if r.hold_transfer_id is not None:  # a worker's request for a member: their points go back
                self.ledger.void(session, pending_id=r.hold_transfer_id, key=request_key(r, "void"), actor_id=worker_id)
            view = _view(session, r.id, worker_id)
            self._tell_requester(session, view, "requests.notify.pool_refused", reason=reason)
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    # --- taking it --------------------------------------------------------------------------

    def take(self, volunteer_id: int, request_id: int) -> Outcome:
        """The first taker wins: the claim is one guarded UPDATE, so of any number pressing at
        once exactly one changes the row; the others are told it is taken."""

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            require_role(session, volunteer_id, r.community_id, "volunteer")
            if volunteer_id in (r.requester_id, r.poster_id):
                raise NotAllowed("error.request_own")
            if not self._claim(session, r, ("open",), status="taken", taker_id=volunteer_id, taken_at=self.clock.now()):
                view = _view(session, r.id, volunteer_id)
                if view.taker_id == volunteer_id and view.status == "taken":
                    return Outcome(view, changed=False)
                if view.status in ("taken", "done", "disputed", "paid"):
                    raise AlreadyDecided("error.request_taken", id=view.ref)
                raise AlreadyDecided("error.request_not_open", id=view.ref, status=T(f"requests.status.{view.status}"))
            view = _view(session, r.id, volunteer_id)
            self._tell_requester(session, view, "requests.notify.taken", name=view.taker_name)
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def withdraw(self, volunteer_id: int, request_id: int) -> Outcome:
        """The taker gives it back before the day; it is open again for others."""

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            if r.taker_id != volunteer_id:
                raise NotAllowed("error.request_not_yours", id=f"Q{r.id}")
            community = get_community(session, r.community_id)
            if _today(self.clock, community) >= r.service_date:
                raise InvalidInput("error.request_withdraw_late", id=f"Q{r.id}")
            if not self._claim(
                session,
                r,
                ("taken",),
                status="open",
                taker_id=None,
                taken_at=None,
                taker_shares_phone=False,
                requester_shares_phone=False,
                when_taker=volunteer_id,
            ):
                raise AlreadyDecided("error.request_not_taken", id=f"Q{r.id}")
            view = _view(session, r.id, volunteer_id)
            person = get_person(session, volunteer_id)
            self._tell_requester(session, view, "requests.notify.withdrawn", name=person.display_name)
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def cancel(self, actor_id: int, request_id: int) -> Outcome:
        """The requester (or whoever posted it, or a worker) calls it off before it is done;
        the hold is voided and the taker, if any, is told."""

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            self._requester_or_worker(session, actor_id, r)
            taker = r.taker_id
            if not self._claim(
                session, r, ("approval", "open", "taken"), status="cancelled", closed_at=self.clock.now()
            ):
                return self._already(session, r.id, actor_id, "cancelled", "error.request_cannot_cancel")
            if r.hold_transfer_id is not None:
                self.ledger.void(session, pending_id=r.hold_transfer_id, key=request_key(r, "void"), actor_id=actor_id)
            view = _view(session, r.id, actor_id)
            if taker is not None:
                notify(
                    session,
                    self.clock,
                    taker,
                    "requests.notify.cancelled",
                    id=view.ref,
                    category=view.category,
                    date=view.service_date.isoformat(),
                )
            if actor_id != r.requester_id:  # called off for them: they and their family hear who did
                tell_of_proxy(
                    session,
                    self.clock,
                    "cancel_request",
                    actor_id,
                    r.requester_id,
                    r.community_id,
                    ("request", r.id),
                    id=view.ref,
                    category=view.category,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def share_phone(self, actor_id: int, request_id: int, *, proxy_id: int | None = None) -> tuple[RequestView, bool]:
        """Agree to share one's phone for this request; phones are exchanged only once both the
        requester's side and the taker agreed. Returns the request and whether they were sent.
        `proxy_id`: the family member or worker acting for `actor_id` (audited, and told)."""

        def work(session: Session) -> tuple[RequestView, bool]:
            r = self._load(session, request_id)
            if r.status not in ("taken", "done", "disputed") or r.taker_id is None:
                raise InvalidInput("error.request_not_taken", id=f"Q{r.id}")
            if actor_id == r.taker_id:
                column = "taker_shares_phone"
            elif actor_id in (r.requester_id, r.poster_id):
                column = "requester_shares_phone"
            else:
                raise NotAllowed("error.request_not_party", id=f"Q{r.id}")
            changed = (
                rowcount(
                    session.execute(
                        update(ServiceRequest)
                        .where(ServiceRequest.id == r.id, getattr(ServiceRequest, column).is_(False))
                        .values({column: True})
                        .execution_options(**_SYNC)
                    )
                )
                == 1
            )
            row = (
                session.execute(
                    select(ServiceRequest.requester_shares_phone, ServiceRequest.taker_shares_phone).where(
                        ServiceRequest.id == r.id
                    )
                )
            ).one()
            view = _view(session, r.id, actor_id)
            if changed and proxy_id is not None:
                tell_of_proxy(
                    session,
                    self.clock,
                    "share_phone",
                    proxy_id,
                    actor_id,
                    r.community_id,
                    ("request", r.id),
                    id=view.ref,
                )
            both = changed and row[0] and row[1]
            if both:
                requester, taker = get_person(session, r.requester_id), get_person(session, _taker_id(r))
                none = "—"
                notify(
                    session,
                    self.clock,
                    taker.id,
                    "requests.notify.phone",
                    id=view.ref,
                    name=requester.display_name,
                    phone=requester.phone or none,
                )
                for person_id in {r.requester_id, r.poster_id}:
                    notify(
                        session,
                        self.clock,
                        person_id,
                        "requests.notify.phone",
                        id=view.ref,
                        name=taker.display_name,
                        phone=taker.phone or none,
                    )
            return view, both

        return self.db.transaction(work)

    # --- done, confirmed, disputed, settled -------------------------------------------------------

    def done(self, volunteer_id: int, request_id: int, minutes: int) -> Outcome:
        check_minutes(minutes)

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            if r.taker_id != volunteer_id:
                raise NotAllowed("error.request_not_yours", id=f"Q{r.id}")
            if not self._claim(
                session,
                r,
                ("taken",),
                status="done",
                done_minutes=minutes,
                done_at=self.clock.now(),
                when_taker=volunteer_id,
            ):
                view = _view(session, r.id, volunteer_id)
                if view.status == "done" and view.done_minutes == minutes:
                    return Outcome(view, changed=False)
                raise AlreadyDecided("error.request_not_taken", id=view.ref)
            view = _view(session, r.id, volunteer_id)
            self._tell_requester(
                session,
                view,
                "requests.notify.done",
                name=view.taker_name,
                hours=_hours(minutes),
                points=min(view.earned, view.held) if view.held else view.earned,
            )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def accept(self, actor_id: int, request_id: int, topup: int = 0) -> Outcome:
        """The requester (or who posted it, or a worker) confirms the work. Own and pool
        requests pay at once: the hours' points, capped at the hold plus `topup` (which the
        payer agrees to: the requester for own points, a worker for the pool). Community
        requests become a pending log for a worker, as logged hours do."""
        if not isinstance(topup, int) or isinstance(topup, bool) or topup < 0:
            raise InvalidInput("error.amount_positive")

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            party = self._requester_or_worker(session, actor_id, r)
            if actor_id == r.taker_id:
                raise NotAllowed("error.request_own_work")
            if topup and (r.payer == "community" or (r.payer == "own") != (party == "requester")):
                raise NotAllowed("error.request_topup_who")
            if r.payer == "own" and party == "worker":
                return self._accept_for(session, actor_id, r)
            if r.payer == "community":
                if not self._claim(
                    session, r, ("done",), status="confirmed", decided_by_id=actor_id, closed_at=self.clock.now()
                ):
                    return self._already(session, r.id, actor_id, "confirmed", "error.request_not_done")
                minutes = _done_minutes(r)
                log_id = self._log(session, r, minutes, points_for(minutes, r.points_per_hour), None)
                notify_workers(
                    session,
                    self.clock,
                    r.community_id,
                    "notify.pending_logs",
                    coalesce="pending_logs",
                    exclude=r.taker_id,
                )
                view = _view(session, r.id, actor_id)
                notify(
                    session,
                    self.clock,
                    _taker_id(r),
                    "requests.notify.confirmed_community",
                    id=view.ref,
                    log=f"H{log_id}",
                )
                return Outcome(view, changed=True)
            amount = min(points_for(r.done_minutes or 0, r.points_per_hour), r.held + topup)
            if not self._claim(
                session, r, ("done",), status="paid", decided_by_id=actor_id, paid=amount, closed_at=self.clock.now()
            ):
                return self._already(session, r.id, actor_id, "paid", "error.request_not_done")
            self._pay(session, r, amount, actor_id)
            view = _view(session, r.id, actor_id)
            notify(session, self.clock, _taker_id(r), "requests.notify.paid", id=view.ref, points=amount)
            if actor_id != r.requester_id:  # family confirming for their relative
                tell_of_proxy(
                    session,
                    self.clock,
                    "accept",
                    actor_id,
                    r.requester_id,
                    r.community_id,
                    ("request", r.id),
                    id=view.ref,
                    points=amount,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def _accept_for(self, session: Session, worker_id: int, r: ServiceRequest) -> Outcome:
        """A worker confirms the work for the requester, whose own points pay: nothing moves until
        a second worker approves (`approve_acceptance`). The worker who asked for the member does
        not confirm it."""
        if worker_id == r.poster_id:
            raise NotAllowed("error.own_proxy_action")
        if not self._claim(session, r, ("done",), when_unaccepted=True, accepted_by_id=worker_id):
            view = _view(session, r.id, worker_id)
            if view.status == "done" and view.accepted_by_id == worker_id:
                return Outcome(view, changed=False)
            if view.status == "done":
                raise AlreadyDecided("error.request_accepted_already", id=view.ref)
            return self._already(session, r.id, worker_id, "paid", "error.request_not_done")
        view = _view(session, r.id, worker_id)
        points = min(view.earned, view.held)
        notify_workers(
            session,
            self.clock,
            r.community_id,
            "requests.notify.needs_second",
            coalesce="pending_requests",
            exclude=worker_id,
            id=view.ref,
        )
        tell_of_proxy(
            session,
            self.clock,
            "accept",
            worker_id,
            r.requester_id,
            r.community_id,
            ("request", r.id),
            id=view.ref,
            points=points,
        )
        return Outcome(view, changed=True)

    def approve(self, worker_id: int, request_id: int) -> Outcome:
        """`/approve Q7`: a worker's confirmation waiting for a second worker, or a request
        waiting to be granted (the pool, or a worker's request for a member)."""
        with self.db.read() as session:
            r = self._load(session, request_id)
            second = r.status == "done" and r.accepted_by_id is not None
        return self.approve_acceptance(worker_id, request_id) if second else self.approve_pool(worker_id, request_id)

    def refuse(self, worker_id: int, request_id: int, reason: str) -> Outcome:
        """`/reject Q7`: the counterpart of `approve`."""
        with self.db.read() as session:
            r = self._load(session, request_id)
            second = r.status == "done" and r.accepted_by_id is not None
        return (
            self.refuse_acceptance(worker_id, request_id, reason)
            if second
            else self.refuse_pool(worker_id, request_id, reason)
        )

    def approve_acceptance(self, worker_id: int, request_id: int) -> Outcome:
        """The second worker agrees with another worker's confirmation: the request pays as the
        requester's own confirmation would (up to the hold, no top-up)."""

        def work(session: Session) -> Outcome:
            r = self._as_worker(session, worker_id, request_id)
            if r.status != "done" or r.accepted_by_id is None:
                return self._already(session, r.id, worker_id, "paid", "error.request_not_done")
            if worker_id == r.accepted_by_id:
                raise NotAllowed("error.own_proxy_action")
            if worker_id in (r.taker_id, r.requester_id):
                raise NotAllowed("error.request_own_settle")
            amount = min(points_for(r.done_minutes or 0, r.points_per_hour), r.held)
            if not self._claim(
                session,
                r,
                ("done",),
                when_accepted_by=r.accepted_by_id,
                status="paid",
                decided_by_id=worker_id,
                paid=amount,
                closed_at=self.clock.now(),
            ):
                return self._already(session, r.id, worker_id, "paid", "error.request_not_done")
            self._pay(session, r, amount, worker_id)
            audit(
                session,
                self.clock,
                "proxy.approve",
                worker_id,
                r.community_id,
                "request",
                r.id,
                {"for": r.requester_id, "by": r.accepted_by_id, "paid": amount},
            )
            view = _view(session, r.id, worker_id)
            notify(session, self.clock, _taker_id(r), "requests.notify.paid", id=view.ref, points=amount)
            self._tell_requester(session, view, "requests.notify.paid_for", points=amount)
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def refuse_acceptance(self, worker_id: int, request_id: int, reason: str) -> Outcome:
        """The second worker does not agree: the request waits for the requester's side again."""
        reason = _reason(reason)

        def work(session: Session) -> Outcome:
            r = self._as_worker(session, worker_id, request_id)
            accepted_by = r.accepted_by_id
            if worker_id == accepted_by:
                raise NotAllowed("error.own_proxy_action")
            if accepted_by is None or not self._claim(
                session, r, ("done",), when_accepted_by=accepted_by, accepted_by_id=None
            ):
                raise AlreadyDecided("error.request_not_waiting", id=f"Q{r.id}")
            audit(
                session,
                self.clock,
                "proxy.refuse",
                worker_id,
                r.community_id,
                "request",
                r.id,
                {"for": r.requester_id, "by": accepted_by, "reason": reason},
            )
            view = _view(session, r.id, worker_id)
            notify(session, self.clock, accepted_by, "requests.notify.second_refused", id=view.ref, reason=reason)
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def dispute(self, actor_id: int, request_id: int, reason: str) -> Outcome:
        reason = _reason(reason)

        def work(session: Session) -> Outcome:
            r = self._load(session, request_id)
            # The volunteer who took it may report a problem too, once its time is over.
            by_taker = actor_id == r.taker_id and r.status == "taken"
            if (
                not by_taker
                and self._requester_or_worker(session, actor_id, r) != "requester"
                and actor_id != r.poster_id
            ):
                raise NotAllowed("error.request_not_requester", id=f"Q{r.id}")
            states: tuple[str, ...] = ("done",)
            if r.status == "taken":  # never marked done: a problem to report once its time is over
                over = service_over(r.service_date, r.slot, get_community(session, r.community_id).timezone)
                if self.clock.now() < over:
                    raise InvalidInput("error.request_dispute_early", id=f"Q{r.id}")
                states = ("taken",)
            if not self._claim(session, r, states, status="disputed", reason=reason, disputed_at=self.clock.now()):
                return self._already(session, r.id, actor_id, "disputed", "error.request_not_done")
            view = _view(session, r.id, actor_id)
            notify_workers(
                session,
                self.clock,
                r.community_id,
                "requests.notify.disputed",
                coalesce="pending_requests",
                exclude=r.taker_id,
                id=view.ref,
                reason=reason,
            )
            if by_taker:
                self._tell_requester(
                    session, view, "requests.notify.taker_problem", name=view.taker_name, reason=reason
                )
                return Outcome(view, changed=True)
            notify(session, self.clock, _taker_id(r), "requests.notify.disputed_taker", id=view.ref, reason=reason)
            if actor_id != r.requester_id:
                tell_of_proxy(
                    session,
                    self.clock,
                    "dispute",
                    actor_id,
                    r.requester_id,
                    r.community_id,
                    ("request", r.id),
                    id=view.ref,
                    reason=reason,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def settle(self, worker_id: int, request_id: int, amount: int | None) -> Outcome:
        """A worker decides a dispute, or a "done" the requester left unanswered for
        ANSWER_DAYS: pay `amount` (up to the hold; for community requests up to what the hours
        are worth), or void it (`amount` None or 0)."""
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 0):
            raise InvalidInput("error.amount_positive")

        def work(session: Session) -> Outcome:
            r = self._as_worker(session, worker_id, request_id)
            if worker_id in (r.taker_id, r.requester_id, r.poster_id):
                raise NotAllowed("error.request_own_settle")
            cap = r.held if r.payer != "community" else points_for(r.done_minutes or 0, r.points_per_hour)
            if amount and amount > cap:
                raise InvalidInput("error.request_settle_cap", most=cap)
            late = self.clock.now() - timedelta(days=ANSWER_DAYS)
            if r.status == "done" and r.done_at is not None and r.done_at > late:
                raise InvalidInput("error.request_settle_early", id=f"Q{r.id}", days=ANSWER_DAYS)
            now = self.clock.now()
            void = not amount
            if not self._claim(
                session,
                r,
                ("disputed", "done"),
                status="voided" if void else "paid",
                decided_by_id=worker_id,
                paid=None if void else amount,
                closed_at=now,
            ):
                return self._already(session, r.id, worker_id, "voided" if void else "paid", "error.request_not_done")
            if not amount:
                if r.hold_transfer_id is not None:
                    self.ledger.void(
                        session, pending_id=r.hold_transfer_id, key=request_key(r, "void"), actor_id=worker_id
                    )
            elif r.payer == "community":
                log_id = self._log(session, r, _done_minutes(r), amount, None)
                self.hours._approve_in(session, worker_id, log_id)
            else:
                self._pay(session, r, amount, worker_id)
            # A worker deciding who gets how many points is audited, as manual adjustments are.
            audit(
                session,
                self.clock,
                "service_request.settle",
                worker_id,
                r.community_id,
                "request",
                r.id,
                {"amount": amount or 0, "void": void, "held": r.held, "minutes": r.done_minutes},
            )
            view = _view(session, r.id, worker_id)
            withdraw(session, self.clock, "requests.notify.disputed", view.ref)  # decided: not a call any more
            for person_id in {_taker_id(r), r.requester_id}:
                notify(
                    session, self.clock, person_id, "requests.notify.settled", id=view.ref, points=0 if void else amount
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def _pay(self, session: Session, r: ServiceRequest, amount: int, actor_id: int) -> None:
        """Post the hold to the services account, pass `amount` on to the taker (the part above
        the hold straight from the payer: the agreed top-up), the rest back to the payer; then
        the hours become an approved log of the request's category."""
        cid, ref = r.community_id, Ref("request", r.id)
        services = self.ledger.system_account(session, cid, "services")
        taker = self.ledger.open_person_account(session, cid, _taker_id(r))
        payer = (
            self.ledger.system_account(session, cid, "pool")
            if r.payer == "pool"
            else self.ledger.person_account(session, cid, r.requester_id)
        )
        from_hold = min(amount, r.held)
        if r.hold_transfer_id is not None:
            self.ledger.post(session, pending_id=r.hold_transfer_id, key=request_key(r, "post"), actor_id=actor_id)
        moves = (
            (services, taker, from_hold, "pay"),
            (services, payer, r.held - from_hold, "refund"),
            (payer, taker, amount - from_hold, "topup"),
        )
        for debit, credit, points, phase in moves:
            if points > 0:
                self.ledger.transfer(
                    session,
                    community_id=cid,
                    debit=debit,
                    credit=credit,
                    amount=points,
                    kind="service",
                    key=request_key(r, phase),
                    ref=ref,
                    actor_id=actor_id,
                )
        # A dispute of a request never marked done is paid for the time asked for.
        self._log(session, r, r.done_minutes if r.done_minutes is not None else r.minutes, amount, actor_id)

    def _log(
        self, session: Session, r: ServiceRequest, minutes: int | None, points: int, approved_by: int | None
    ) -> int:
        """The request's hours as a service log linked to it: approved when the request paid
        (the points came from the payer, not from issuance), pending for a worker otherwise."""
        community = get_community(session, r.community_id)
        taker = _taker_id(r)
        now = self.clock.now()
        log = ServiceLog(
            community_id=r.community_id,
            person_id=taker,
            category_id=r.category_id,
            service_date=min(r.service_date, _today(self.clock, community)),
            minutes=minutes,
            points_per_hour=r.points_per_hour,
            points=points,
            note=f"Q{r.id}",
            status="approved" if approved_by else "pending",
            submitted_by_id=r.taker_id,
            recorded_by_worker=False,
            decided_by_id=approved_by,
            decided_at=now if approved_by else None,
            request_key=request_key(r, "log"),
            created_at=now,
        )
        session.add(log)
        session.flush()
        if approved_by:  # paid hours and points count in the taker's lifetime totals, like any approved log
            self.ledger.add_minutes(session, r.community_id, taker, minutes or 0, points=points)
            star_levels.on_counted(session, self.clock, r.community_id, taker, minutes or 0)
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.id == r.id)
            .values(service_log_id=log.id)
            .execution_options(**_SYNC)
        )
        return log.id

    # --- jobs -------------------------------------------------------------------------------

    def expire(self) -> int:
        """Requests not taken by their day expire and their holds are given back. Each in its
        own transaction, claimed by a guarded UPDATE: overlapping runs expire each one once."""
        with self.db.read() as session:
            communities = list(session.scalars(select(Community)))
            ids: list[int] = []
            for c in communities:
                ids.extend(
                    session.scalars(
                        select(ServiceRequest.id)
                        .where(
                            ServiceRequest.community_id == c.id,
                            ServiceRequest.status.in_(("approval", "open")),
                            ServiceRequest.service_date < _today(self.clock, c),
                        )
                        .order_by(ServiceRequest.id)
                    )
                )
        expired = 0
        for request_id in ids:
            expired += self.db.transaction(partial(self._expire_one, request_id=request_id))
        return expired

    def _expire_one(self, session: Session, request_id: int) -> bool:
        r = self._load(session, request_id)
        community = get_community(session, r.community_id)
        if r.service_date >= _today(self.clock, community):
            return False
        if not self._claim(session, r, ("approval", "open"), status="expired", closed_at=self.clock.now()):
            return False
        if r.hold_transfer_id is not None:
            self.ledger.expire(session, pending_id=r.hold_transfer_id, key=request_key(r, "expire"))
        view = _view(session, r.id, r.requester_id)
        self._tell_requester(session, view, "requests.notify.expired")
        return True

    def morning(self) -> Morning:
        """The morning messages: each volunteer hears of the requests they take today; each
        worker of the open requests nobody took for UNTAKEN_DAYS and of what waits for them.
        Claimed per community and local day, so never sent twice."""
        now = self.clock.now()
        with self.db.read() as session:
            communities = list(session.scalars(select(Community).order_by(Community.id)))
        sent = messages = 0
        for community in communities:
            today = _today(self.clock, community)

            def work(session: Session, c: Community = community, today: date = today) -> int:
                if not claim(session, "request-reminders", f"C{c.id}", today.isoformat(), now):
                    return -1
                count = 0
                todays = _views(
                    session,
                    _VIEW.where(
                        ServiceRequest.community_id == c.id,
                        ServiceRequest.status == "taken",
                        ServiceRequest.service_date == today,
                    ).order_by(ServiceRequest.taker_id, ServiceRequest.id),
                    address=True,
                )
                by_taker: dict[int, list[RequestView]] = {}
                for v in todays:
                    assert v.taker_id is not None  # a request taken has its taker
                    by_taker.setdefault(v.taker_id, []).append(v)
                locales = (
                    dict((session.execute(select(Person.id, Person.locale).where(Person.id.in_(by_taker)))).all())
                    if by_taker
                    else {}
                )
                for taker, theirs in by_taker.items():
                    notify(
                        session,
                        self.clock,
                        taker,
                        "requests.morning.volunteer",
                        date=today.isoformat(),
                        count=len(theirs),
                        lines=_rendered(locales[taker], theirs, address=True),
                    )
                    count += 1
                stale = _views(
                    session,
                    _VIEW.where(
                        ServiceRequest.community_id == c.id,
                        ServiceRequest.status == "open",
                        ServiceRequest.created_at <= now - timedelta(days=UNTAKEN_DAYS),
                    ).order_by(ServiceRequest.id),
                )
                # Taken on an earlier day and not marked done: both sides are asked to close it
                # (today's are in the list above; their time is over later in the day).
                for v in overdue_taken(session, c, now):
                    if v.taker_id is None or v.service_date >= today:
                        continue
                    notify(
                        session,
                        self.clock,
                        v.taker_id,
                        "requests.notify.overdue_taker",
                        id=v.ref,
                        category=v.category,
                        date=v.service_date.isoformat(),
                        name=v.requester_name,
                    )
                    self._tell_requester(session, v, "requests.notify.overdue_requester", name=v.taker_name)
                    count += 2
                waiting = waiting_for_workers(session, c.id, now)
                if stale or waiting:
                    for worker, locale in (
                        session.execute(
                            select(Person.id, Person.locale)
                            .join(Membership, Membership.person_id == Person.id)
                            .where(Membership.community_id == c.id, Membership.role == "worker")
                            .order_by(Person.id)
                        )
                    ).all():
                        notify(
                            session,
                            self.clock,
                            worker,
                            "requests.morning.worker",
                            date=today.isoformat(),
                            count=len(stale),
                            lines=_rendered(locale, stale[:MORNING_LINES]),
                            waiting=len(waiting),
                        )
                        count += 1
                return count

            done = self.db.transaction(work)
            if done >= 0:
                sent, messages = sent + 1, messages + done
        return Morning(sent, messages)

    # --- reading ----------------------------------------------------------------------------

    @reads
    def board(
        self,
        viewer_id: int,
        community_id: int,
        *,
        filters: tuple[str, ...] = (),
        page: int = 0,
        page_size: int = 8,
    ) -> Board:
        """Open requests of the community, newest first, without addresses. `filters`: names of
        a category (Chinese or English) or a grid of the community. This is the hot path of
        /requests: one prebuilt statement reads the page and whether the viewer may see it (a
        second resolves filter names; a third, only for an empty page, says why it is empty)."""
        with self.db.read() as session:
            connection = session.connection()
            params = {
                "community": community_id,
                "person": viewer_id,
                "offset": page * page_size,
                "limit": page_size + 1,
                "category": None,
                "grid": None,
            }
            for word in filters:
                category_id, grid_id = (
                    connection.execute(_FILTER, {"community": community_id, "word": word, "lower": word.lower()})
                ).one()
                if category_id is None and grid_id is None:
                    self._may_view(connection, viewer_id, community_id)
                    raise InvalidInput("error.request_bad_filter", word=word[:20])
                params["category"] = params["category"] if category_id is None else category_id
                params["grid"] = params["grid"] if grid_id is None else grid_id
            stmt = _BOARD[(params["category"] is not None, params["grid"] is not None)]
            if filters and not self.db.sqlite:
                # With a category or grid, PostgreSQL's generic plan for the prepared statement runs
                # five times slower than one planned for the value (measured: 3.5 ms against 0.7 ms
                # with planning); without a filter the generic plan is the fast one.
                connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = (connection.execute(stmt, params)).all()
            if not rows or not rows[0].allowed:
                self._may_view(connection, viewer_id, community_id)
            views = [_from_row(row[:_VIEW_WIDTH], address=False) for row in rows]
            return Board(views[:page_size], page, len(views) > page_size)

    @staticmethod
    def _may_view(connection, viewer_id: int, community_id: int) -> None:
        found = (connection.execute(_VIEWER, {"person": viewer_id, "community": community_id})).first()
        if found is None:
            raise NotFound("error.no_person")
        check_role(found.is_admin, effective_role(found.role, found.confirmed), "resident")

    @reads
    def mine(self, person_id: int, community_id: int, limit: int = 15) -> list[RequestView]:
        """Requests the person asked for, posted or took; newest first."""
        with self.db.read() as session:
            stmt = (
                _VIEW.where(
                    ServiceRequest.community_id == community_id,
                    or_(
                        ServiceRequest.requester_id == person_id,
                        ServiceRequest.poster_id == person_id,
                        ServiceRequest.taker_id == person_id,
                    ),
                )
                .order_by(ServiceRequest.id.desc())
                .limit(limit)
            )
            return _views(session, stmt, address=True)

    @reads
    def waiting(self, worker_id: int, community_id: int) -> list[RequestView]:
        """What waits for a worker (see `waiting_for_workers`), for /pending."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            return waiting_for_workers(session, community_id, self.clock.now())

    @reads
    def get(self, viewer_id: int, request_id: int) -> RequestView:
        with self.db.read() as session:
            view = _view(session, request_id, viewer_id)
            if role_in(session, viewer_id, view.community_id) is None:
                person = session.get(Person, viewer_id)
                if person is None or not person.is_admin:
                    raise NotFound("error.no_request", id=f"Q{request_id}")
            return view

    @reads
    def grids(self, community_id: int) -> list[tuple[int, str]]:
        with self.db.read() as session:
            rows = session.execute(select(Grid.id, Grid.name).where(Grid.community_id == community_id)).all()
        return sorted(((gid, name) for gid, name in rows), key=lambda g: numeral_order(g[1]))  # 一, 二, 三

    # --- internals --------------------------------------------------------------------------

    def _load(self, session: Session, request_id: int) -> ServiceRequest:
        r = (
            session.execute(
                select(ServiceRequest).where(ServiceRequest.id == request_id).execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if r is None:
            raise NotFound("error.no_request", id=f"Q{request_id}")
        return r

    def _as_worker(self, session: Session, worker_id: int, request_id: int) -> ServiceRequest:
        r = self._load(session, request_id)
        require_role(session, worker_id, r.community_id, "worker")
        return r

    def _pool_request(self, session: Session, worker_id: int, request_id: int) -> ServiceRequest:
        r = self._as_worker(session, worker_id, request_id)
        # Own points wait for a worker only when a worker asked for the member.
        if r.payer != "pool" and not (r.payer == "own" and (r.status == "approval" or r.pool_decided_by_id)):
            raise InvalidInput("error.request_not_pool", id=f"Q{r.id}")
        if worker_id in (r.requester_id, r.poster_id):
            raise NotAllowed("error.request_own_settle")
        return r

    def _requester_or_worker(self, session: Session, actor_id: int, r: ServiceRequest) -> str:
        """'requester' for the person it is for, whoever posted it for them and their linked
        family members; 'worker' for a worker of its community (or an admin); anyone else is
        refused."""
        if actor_id == r.requester_id:
            return "requester"
        family = proxy_role(session, actor_id, r.requester_id) == "family"
        if family:  # whoever posted it as family, or other family acting for the requester
            return "requester"
        person = session.get(Person, actor_id)
        if person is not None and (person.is_admin or role_in(session, actor_id, r.community_id) == "worker"):
            return "worker"  # a worker who posted it for the member is a worker here too
        if actor_id == r.poster_id:
            return "requester"
        raise NotAllowed("error.request_not_requester", id=f"Q{r.id}")

    def _claim(
        self,
        session: Session,
        r: ServiceRequest,
        states: tuple[str, ...],
        *,
        when_taker: int | None = None,
        when_unaccepted: bool = False,
        when_accepted_by: int | None = None,
        **values: object,
    ) -> bool:
        """Move the request out of `states` with one guarded UPDATE; False when it was not in
        them (someone else moved it first)."""
        stmt = update(ServiceRequest).where(ServiceRequest.id == r.id, ServiceRequest.status.in_(states))
        if when_taker is not None:
            stmt = stmt.where(ServiceRequest.taker_id == when_taker)
        if when_unaccepted:
            stmt = stmt.where(ServiceRequest.accepted_by_id.is_(None))
        if when_accepted_by is not None:
            stmt = stmt.where(ServiceRequest.accepted_by_id == when_accepted_by)
        return rowcount(session.execute(stmt.values(**values).execution_options(**_SYNC))) == 1

    def _already(
        self, session: Session, request_id: int, viewer_id: int, wanted: str, refusal: str = "error.request_decided"
    ) -> Outcome:
        view = _view(session, request_id, viewer_id)
        if view.status != wanted:
            raise AlreadyDecided(refusal, id=view.ref, status=T(f"requests.status.{view.status}"))
        return Outcome(view, changed=False)

    def _tell_requester(self, session: Session, view: RequestView, key: str, **params: Any) -> None:
        """The person it is for and, when someone else posted it, the poster too."""
        for person_id in dict.fromkeys((view.requester_id, view.poster_id)):
            notify(
                session,
                self.clock,
                person_id,
                key,
                id=view.ref,
                category=view.category,
                date=view.service_date.isoformat(),
                **params,
            )


def waiting_for_workers(session: Session, community_id: int, now: datetime) -> list[RequestView]:
    """Requests waiting for a worker's decision, oldest first: pool requests to fund, disputes,
    and work marked done that the requester left unanswered for ANSWER_DAYS. The one place that
    says what waits for a worker among requests."""
    late = now - timedelta(days=ANSWER_DAYS)
    decisions = _views(
        session,
        _VIEW.where(
            ServiceRequest.community_id == community_id,
            or_(
                ServiceRequest.status.in_(("approval", "disputed")),
                and_(
                    ServiceRequest.status == "done",
                    or_(ServiceRequest.done_at <= late, ServiceRequest.accepted_by_id.is_not(None)),
                ),
            ),
        ).order_by(ServiceRequest.created_at, ServiceRequest.id),
        address=True,
    )
    return decisions + overdue_taken(session, get_community(session, community_id), now)


def service_over(service_date: date, slot: str, timezone: str) -> datetime:
    """When a request's time of day is over (UTC): the end of its slot, or of the day for "any"."""
    end = SLOT_ENDS.get(slot)
    if end is not None:
        return at_local(service_date, end, timezone)
    return day_start(days_after(service_date, 1), timezone)


def overdue_taken(session: Session, community: Community, now: datetime | None) -> list[RequestView]:
    """Taken requests whose time is over and that nobody marked done: they hold their points until
    marked done, disputed or cancelled, so they wait like a decision (`overdue_since`: when their
    time was over). `now` None: every taken request with that moment, over or not."""
    stmt = _VIEW.where(ServiceRequest.community_id == community.id, ServiceRequest.status == "taken")
    if now is not None:
        stmt = stmt.where(ServiceRequest.service_date <= local_date(now, community.timezone))
    views = _views(session, stmt.order_by(ServiceRequest.service_date, ServiceRequest.id), address=True)
    timed = [replace(v, overdue_since=service_over(v.service_date, v.slot, community.timezone)) for v in views]
    return [v for v in timed if now is None or v.overdue_since is not None and v.overdue_since <= now]


def deadline_items(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    """Requests as decisions on time count them (a source of WAITING_SOURCES): a pool request
    waits from when it was asked until a worker grants or refuses it; a dispute from when it
    came in until a worker settles it. Without a range, those waiting now; with one, those
    that came in before `end` and still waited at `start` or later."""
    q = ServiceRequest
    name = func.coalesce(_requester.real_name, _requester.display_name)
    ended_pool = func.coalesce(q.pool_decided_at, q.closed_at)  # or withdrawn while it waited
    # Asked of the pool, or paid from the member's points but asked by a worker (a second worker
    # opens it): both wait for a worker's yes or no. About the requester, or for the member's own
    # points about the worker who asked (who never approves it).
    about = case((q.payer == "own", q.poster_id), else_=q.requester_id)
    pool = (
        select(q.id, q.community_id, about, name, q.created_at, ended_pool, q.pool_decided_by_id)
        .join(_requester, _requester.id == q.requester_id)
        .where(
            q.community_id.in_(community_ids),
            or_(q.payer == "pool", q.status == "approval", q.pool_decided_by_id.is_not(None)),
        )
    )
    disputes = (
        select(
            q.id,
            q.community_id,
            q.requester_id,
            name,
            q.disputed_at,
            case((q.status == "disputed", None), else_=q.closed_at),
            q.decided_by_id,
        )
        .join(_requester, _requester.id == q.requester_id)
        .where(q.community_id.in_(community_ids), q.disputed_at.is_not(None))
    )
    if start is None:
        pool, disputes = pool.where(q.status == "approval"), disputes.where(q.status == "disputed")
    else:
        pool = pool.where(q.created_at < end, or_(q.status == "approval", ended_pool >= start))
        disputes = disputes.where(q.disputed_at < end, or_(q.status == "disputed", q.closed_at >= start))
    items = []
    for stmt, decided in ((pool, True), (disputes, False)):
        for i, c, p, n, at, ended, by in session.execute(stmt):
            # A request closed without the worker's decision (cancelled, expired) was withdrawn.
            items.append(Item(f"Q{i}", c, p, n, at, ended, by if ended is not None else None))
    if start is None:
        # Waiting now, as /pending shows them: a worker's confirmation for a member (a second
        # worker approves; the one who confirmed never does), "done" left unanswered for
        # ANSWER_DAYS, and (below) a request taken and never marked done once its time is over.
        # Each from when /pending counts it (the job keeps those still ahead out); they are left
        # out of the month's decision figures (the last two close without a worker's decision).
        done = (
            select(
                q.id,
                q.community_id,
                q.requester_id,
                name,
                q.done_at,
                q.accepted_by_id,
                func.coalesce(_acceptor.real_name, _acceptor.display_name),
            )
            .join(_requester, _requester.id == q.requester_id)
            .outerjoin(_acceptor, _acceptor.id == q.accepted_by_id)
            .where(q.community_id.in_(community_ids), q.status == "done", q.done_at.is_not(None))
        )
        for i, c, p, n, at, acceptor, acceptor_name in session.execute(done):
            if at is None:
                continue
            items.append(
                Item(f"Q{i}", c, acceptor, acceptor_name, at)
                if acceptor is not None
                else Item(f"Q{i}", c, p, n, at + timedelta(days=ANSWER_DAYS))
            )
        for community in session.scalars(select(Community).where(Community.id.in_(community_ids))):
            items += [
                Item(v.ref, v.community_id, v.taker_id, v.taker_name or "", v.overdue_since)
                for v in overdue_taken(session, community, None)
                if v.taker_id is not None and v.overdue_since is not None
            ]
    return items


WAITING_SOURCES.append(deadline_items)


def request_line(v: RequestView, *, address: bool = False) -> Text:
    """One request as a line of a list (the address only where the reader may see it)."""
    return T(
        "requests.line",
        id=v.ref,
        category=v.category,
        date=v.service_date.strftime("%m-%d"),
        slot=T(f"requests.slot.{v.slot}"),
        hours=_hours(v.minutes),
        name=v.requester_name,
        grid=T("requests.grid", grid=v.grid) if v.grid else "",
        pay=T(f"requests.pay.{v.payer}", points=v.held),
        note=f" · {v.note}" if v.note else "",
        address=T("requests.address", address=v.address) if address and v.address else "",
    )


def _rendered(locale: str, views: list[RequestView], *, address: bool = False) -> str:
    """Lines for a notification, rendered now in the reader's language (notifications store
    plain values)."""
    return "\n".join(
        render(locale, t.key, t.params)
        for t in (
            request_line(replace(v, category=v.category_en) if locale == "en" else v, address=address) for v in views
        )
    )


def _reason(raw: str) -> str:
    reason = " ".join((raw or "").split())[:300]
    if not reason:
        raise InvalidInput("error.reason_required")
    return reason


def _today(clock: Clock, community: Community) -> date:
    return clock.community(community.timezone).today()


_requester, _taker, _acceptor = aliased(Person), aliased(Person), aliased(Person)
_VIEW = (
    select(
        ServiceRequest.id,
        ServiceRequest.community_id,
        ServiceRequest.requester_id,
        _requester.display_name,
        ServiceRequest.poster_id,
        ServiceCategory.name,
        ServiceCategory.name_en,
        ServiceRequest.service_date,
        ServiceRequest.slot,
        ServiceRequest.minutes,
        ServiceRequest.note,
        Grid.name,
        ServiceRequest.address,
        ServiceRequest.payer,
        ServiceRequest.held,
        ServiceRequest.points_per_hour,
        ServiceRequest.status,
        ServiceRequest.taker_id,
        _taker.display_name,
        ServiceRequest.done_minutes,
        ServiceRequest.paid,
        ServiceRequest.service_log_id,
        ServiceRequest.reason,
        ServiceRequest.created_at,
        ServiceRequest.done_at,
        ServiceRequest.disputed_at,
        ServiceRequest.accepted_by_id,
    )
    .join(_requester, _requester.id == ServiceRequest.requester_id)
    .join(ServiceCategory, ServiceCategory.id == ServiceRequest.category_id)
    .outerjoin(Grid, Grid.id == ServiceRequest.grid_id)
    .outerjoin(_taker, _taker.id == ServiceRequest.taker_id)
)
_ADDRESS = 12  # the address column's place in _VIEW


# The board's statements, built once with bound parameters (see the ledger's note on cost):
# one per combination of filters, so each keeps its own index and its own cached plan.
# Whether the viewer may see the board: an admin, or any member of the community (residents are
# the lowest rank), read in the same statement as the page.
_ALLOWED = or_(
    select(Person.is_admin).where(Person.id == bindparam("person")).scalar_subquery(),
    select(Membership.id)
    .where(Membership.person_id == bindparam("person"), Membership.community_id == bindparam("community"))
    .exists(),
).label("allowed")
_VIEW_WIDTH = len(_VIEW.selected_columns)
_BOARD = {
    (by_category, by_grid): _VIEW.add_columns(_ALLOWED)
    .where(
        ServiceRequest.community_id == bindparam("community"),
        ServiceRequest.status == "open",
        *((ServiceRequest.category_id == bindparam("category"),) if by_category else ()),
        *((ServiceRequest.grid_id == bindparam("grid"),) if by_grid else ()),
    )
    .order_by(ServiceRequest.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
    for by_category in (False, True)
    for by_grid in (False, True)
}
_VIEWER = (
    select(Person.is_admin, Membership.role, Membership.confirmed)
    .outerjoin(Membership, and_(Membership.person_id == Person.id, Membership.community_id == bindparam("community")))
    .where(Person.id == bindparam("person"))
)
# A filter word names a category (Chinese or English) or a grid of the community.
_FILTER = select(
    select(ServiceCategory.id)
    .where(
        ServiceCategory.community_id == bindparam("community"),
        ServiceCategory.active.is_(True),
        or_(ServiceCategory.name == bindparam("word"), func.lower(ServiceCategory.name_en) == bindparam("lower")),
    )
    .limit(1)
    .scalar_subquery(),
    select(Grid.id)
    .where(Grid.community_id == bindparam("community"), Grid.name == bindparam("word"))
    .limit(1)
    .scalar_subquery(),
)


def _from_row(row, *, address: bool) -> RequestView:
    return RequestView(*(row if address else (*row[:_ADDRESS], None, *row[_ADDRESS + 1 :])))


def _views(session: Session, stmt, *, address: bool = False) -> list[RequestView]:
    return [_from_row(row, address=address) for row in (session.execute(stmt)).all()]


def _view(session: Session, request_id: int, viewer_id: int) -> RequestView:
    """The request as `viewer_id` may see it: the address only for the requester's side, the
    taker and workers of its community (and admins)."""
    found = _views(session, _VIEW.where(ServiceRequest.id == request_id), address=True)
    if not found:
        raise NotFound("error.no_request", id=f"Q{request_id}")
    view = found[0]
    if view.address and viewer_id not in (view.requester_id, view.poster_id, view.taker_id):
        person = session.get(Person, viewer_id)
        if person is None or not (person.is_admin or role_in(session, viewer_id, view.community_id) == "worker"):
            view = replace(view, address=None)
    return view


# --- the monthly report's sheet ------------------------------------------------------------------


def requests_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Requests by category for the month: posted, taken, done, expired, and the points paid by
    requesters, by the pool and by the community (the approved logs of community requests)."""
    q = ServiceRequest

    def in_month(column):
        return and_(q.community_id == community_id, column >= month.start, column < month.end)

    def by_category(value, *where) -> dict[int, int]:
        rows = session.execute(select(q.category_id, value).where(*where).group_by(q.category_id))
        return {cat: int(n or 0) for cat, n in rows.all()}

    count = func.count(q.id)
    posted = by_category(count, in_month(q.created_at))
    taken = by_category(count, in_month(q.taken_at))
    done = by_category(count, in_month(q.done_at))
    expired = by_category(count, in_month(q.closed_at), q.status == "expired")
    paid = {
        payer: by_category(func.sum(q.paid), in_month(q.closed_at), q.status == "paid", q.payer == payer)
        for payer in ("own", "pool")
    }
    community = {
        cat: int(n or 0)
        for cat, n in (
            session.execute(
                select(q.category_id, func.sum(ServiceLog.points))
                .join(ServiceLog, ServiceLog.id == q.service_log_id)
                .where(
                    q.community_id == community_id,
                    q.payer == "community",
                    ServiceLog.status == "approved",
                    ServiceLog.decided_at >= month.start,
                    ServiceLog.decided_at < month.end,
                )
                .group_by(q.category_id)
            )
        ).all()
    }
    used = set(posted) | set(taken) | set(done) | set(expired) | set(paid["own"]) | set(paid["pool"]) | set(community)
    if not used:
        return None
    names = dict(
        (
            session.execute(
                select(ServiceCategory.id, ServiceCategory.name_en if locale == "en" else ServiceCategory.name).where(
                    ServiceCategory.id.in_(used)
                )
            )
        ).all()
    )
    order = sorted(used, key=lambda c: names[c])
    counts = [
        (
            posted.get(c, 0),
            taken.get(c, 0),
            done.get(c, 0),
            expired.get(c, 0),
            paid["own"].get(c, 0),
            paid["pool"].get(c, 0),
            community.get(c, 0),
        )
        for c in order
    ]
    rows = [(names[c], *n) for c, n in zip(order, counts, strict=True)]
    totals = (render(locale, "section.total"), *(sum(n[i] for n in counts) for i in range(7)))
    columns = (Column(render(locale, "section.requests.category")),) + tuple(
        Column(render(locale, f"section.requests.{key}"), "int")
        for key in ("posted", "taken", "done", "expired", "paid_own", "paid_pool", "paid_community")
    )
    return Sheet(
        "requests",
        render(locale, "section.requests.title"),
        columns,
        rows,
        totals,
        (render(locale, "section.requests.note"),),
    )


def _taker_id(r: ServiceRequest) -> int:
    """The volunteer of a request past "open": taking it set taker_id, and only a withdrawal,
    which returns it to "open", clears it."""
    assert r.taker_id is not None, f"request {r.id} ({r.status}) has no taker"
    return r.taker_id


def _done_minutes(r: ServiceRequest) -> int:
    """The minutes of a request marked done: marking it done set them."""
    assert r.done_minutes is not None, f"request {r.id} ({r.status}) has no minutes done"
    return r.done_minutes
