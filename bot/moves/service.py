"""Moving to another community with one's points (通存通兑): the member asks, a worker of the
old community approves, a worker of the new community accepts. On acceptance the available
points go through both communities' clearing accounts and the membership moves; the hours
history stays with the person. Each stage is a guarded status change, so two workers deciding
the same move at once decide it once.

Nothing may be left in the old community that pays or binds the person there: service requests
under way (taken or posted) refuse the move already when it is asked for; they, held points and
hours waiting for approval refuse it at the first approval and again at the acceptance. Accepted,
the person leaves their visit assignments and team duties there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.kernel.access import get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.ledger.service import Ledger, Ref
from bot.messages.notify import notify, notify_workers
from bot.visits.service import end_assignments
from models import Community, CommunityMove, Membership, Person, ServiceLog, ServiceRequest, Team, TeamMember

OPEN = ("requested", "approved")
# A service request still under way: waiting for the pool, on the board, taken, done and not yet
# paid, or disputed. Its points would be paid or refunded in the old community.
REQUEST_UNDER_WAY = ("approval", "open", "taken", "done", "disputed")


@dataclass(frozen=True)
class MoveView:
    id: int
    person_id: int
    person_name: str
    from_community: str
    to_community: str
    status: str
    amount: int | None


@dataclass(frozen=True)
class MoveOutcome:
    move: MoveView
    changed: bool


class MovesService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db, self.clock, self.ledger = db, clock, ledger

    def request(self, person_id: int, community_id: int, to_name: str) -> MoveView:
        def work(session: Session) -> MoveView:
            role = role_in(session, person_id, community_id)
            if role is None:
                raise NotAllowed("error.not_member")
            if role == "worker":
                raise NotAllowed("error.move_worker")  # a worker's post is an appointment, not a move
            target = session.scalar(select(Community).where(Community.name == " ".join(to_name.split())))
            if target is None:
                raise NotFound("error.no_community")
            if target.id == community_id:
                raise InvalidInput("error.same_community")
            if role_in(session, person_id, target.id) is not None:
                raise InvalidInput("error.move_already_member", community=target.name)
            requests = open_requests(session, person_id, community_id)
            if requests:
                raise InvalidInput("error.move_requests_open", ids=_ids(requests))
            if (
                session.scalar(
                    select(CommunityMove.id).where(CommunityMove.person_id == person_id, CommunityMove.status.in_(OPEN))
                )
                is not None
            ):
                raise InvalidInput("error.move_open")
            move = CommunityMove(
                person_id=person_id,
                from_community_id=community_id,
                to_community_id=target.id,
                status="requested",
                created_at=self.clock.now(),
            )
            session.add(move)
            session.flush()
            audit(
                session, self.clock, "relocation.request", person_id, community_id, "move", move.id, {"to": target.id}
            )
            view = _view(session, move.id)
            notify_workers(
                session,
                self.clock,
                community_id,
                "move.notify.requested",
                id=f"M{move.id}",
                name=view.person_name,
                to=view.to_community,
            )
            return view

        return self.db.transaction(work)

    def cancel(self, person_id: int) -> MoveView:
        def work(session: Session) -> MoveView:
            move = session.scalar(
                select(CommunityMove).where(CommunityMove.person_id == person_id, CommunityMove.status.in_(OPEN))
            )
            if move is None:
                raise NotFound("error.no_open_move")
            claimed = session.execute(
                update(CommunityMove)
                .where(CommunityMove.id == move.id, CommunityMove.status.in_(OPEN))
                .values(status="rejected", reason="cancelled", decided_at=self.clock.now())
            )
            if rowcount(claimed) != 1:
                raise NotFound("error.no_open_move")
            audit(session, self.clock, "relocation.cancel", person_id, move.from_community_id, "move", move.id)
            return _view(session, move.id)

        return self.db.transaction(work)

    def approve(self, worker_id: int, move_id: int) -> MoveOutcome:
        """The old community's worker approves a request; the new community's worker accepts
        an approved one, and the points and the membership move."""

        def work(session: Session) -> MoveOutcome:
            move = _get(session, move_id)
            if move.status == "requested":
                require_role(session, worker_id, move.from_community_id, "worker")
                self._check_leaving(session, move)
                if not self._claim(session, move_id, "requested", "approved", approved_by_id=worker_id):
                    return MoveOutcome(_view(session, move_id), changed=False)
                audit(session, self.clock, "relocation.approve", worker_id, move.from_community_id, "move", move_id)
                view = _view(session, move_id)
                origin: dict[str, Any] = {"from": view.from_community}  # `from` is a Python keyword
                notify_workers(
                    session,
                    self.clock,
                    move.to_community_id,
                    "move.notify.to_accept",
                    id=f"M{move_id}",
                    name=view.person_name,
                    **origin,
                )
                notify(
                    session, self.clock, move.person_id, "move.notify.approved", id=f"M{move_id}", to=view.to_community
                )
                return MoveOutcome(view, changed=True)
            if move.status == "approved" and _is_worker(session, worker_id, move.to_community_id):
                if worker_id == move.person_id:
                    raise NotAllowed("error.own_move")
                return self._accept(session, worker_id, move)
            # Decided already (a second worker of the old community, a double press): say so,
            # to the workers of either community only.
            if not _is_worker(session, worker_id, move.from_community_id):
                require_role(session, worker_id, move.to_community_id, "worker")
            return MoveOutcome(_view(session, move_id), changed=False)

        return self.db.transaction(work)

    def _check_leaving(self, session: Session, move: CommunityMove) -> None:
        """What would stay behind in the old community: checked by each community's worker."""
        requests = open_requests(session, move.person_id, move.from_community_id)
        if requests:
            raise InvalidInput("error.move_requests_open_member", ids=_ids(requests))
        pending = self.ledger.balance(session, move.from_community_id, move.person_id).pending
        if pending:
            # Held points belong to a redemption in the old community; settle it first.
            raise InvalidInput("error.move_holds_open", pending=pending)
        waiting = session.scalar(
            select(func.count())
            .select_from(ServiceLog)
            .where(
                ServiceLog.person_id == move.person_id,
                ServiceLog.community_id == move.from_community_id,
                ServiceLog.status == "pending",
            )
        )
        if waiting:
            # Their points would be credited in the old community after the member has left it.
            raise InvalidInput("error.move_logs_pending", count=waiting)

    def _accept(self, session: Session, worker_id: int, move: CommunityMove) -> MoveOutcome:
        self._check_leaving(session, move)
        balance = self.ledger.balance(session, move.from_community_id, move.person_id)
        if not self._claim(session, move.id, "approved", "done", accepted_by_id=worker_id, amount=balance.available):
            return MoveOutcome(_view(session, move.id), changed=False)
        if balance.available > 0:
            self.ledger.across(
                session,
                from_community_id=move.from_community_id,
                from_person_id=move.person_id,
                to_community_id=move.to_community_id,
                to_person_id=move.person_id,
                amount=balance.available,
                kind="move",
                key=f"move:M{move.id}",
                ref=Ref("move", move.id),
                actor_id=worker_id,
            )
        else:
            self.ledger.open_person_account(session, move.to_community_id, move.person_id)
        membership = session.scalar(
            select(Membership).where(
                Membership.person_id == move.person_id, Membership.community_id == move.from_community_id
            )
        )
        if membership is not None:
            membership.community_id = move.to_community_id
        person = get_person(session, move.person_id)
        person.community_id = move.to_community_id
        self._end_duties(session, move)
        audit(
            session,
            self.clock,
            "relocation.accept",
            worker_id,
            move.to_community_id,
            "move",
            move.id,
            {"points": balance.available, "from": move.from_community_id},
        )
        view = _view(session, move.id)
        notify(
            session,
            self.clock,
            move.person_id,
            "move.notify.done",
            id=f"M{move.id}",
            to=view.to_community,
            points=balance.available,
        )
        return MoveOutcome(view, changed=True)

    def _end_duties(self, session: Session, move: CommunityMove) -> None:
        """The old community's visit assignments and teams (member, leader) end with the move;
        its workers are told which, to hand them on."""
        old, person_id = move.from_community_id, move.person_id
        elders = end_assignments(session, person_id, old)
        old_teams = select(Team.id).where(Team.community_id == old)
        teams = list(
            session.scalars(
                select(Team.name)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(Team.community_id == old, TeamMember.person_id == person_id)
                .order_by(Team.name)
            )
        )
        session.execute(delete(TeamMember).where(TeamMember.person_id == person_id, TeamMember.team_id.in_(old_teams)))
        session.execute(
            update(Team).where(Team.community_id == old, Team.leader_id == person_id).values(leader_id=None)
        )
        name = get_person(session, person_id).display_name
        if elders:
            notify_workers(
                session,
                self.clock,
                old,
                "move.notify.left_elders",
                id=f"M{move.id}",
                name=name,
                elders="、".join(elders),
            )
        if teams:
            notify_workers(
                session, self.clock, old, "move.notify.left_teams", id=f"M{move.id}", name=name, teams="、".join(teams)
            )

    def reject(self, worker_id: int, move_id: int, reason: str) -> MoveOutcome:
        reason = " ".join((reason or "").split())[:300]
        if not reason:
            raise InvalidInput("error.reason_required")

        def work(session: Session) -> MoveOutcome:
            move = _get(session, move_id)
            if move.status not in OPEN:
                return MoveOutcome(_view(session, move_id), changed=False)
            deciding = move.from_community_id if move.status == "requested" else move.to_community_id
            require_role(session, worker_id, deciding, "worker")
            if not self._claim(session, move_id, move.status, "rejected", reason=reason):
                return MoveOutcome(_view(session, move_id), changed=False)
            audit(session, self.clock, "relocation.reject", worker_id, deciding, "move", move_id, {"reason": reason})
            notify(session, self.clock, move.person_id, "move.notify.rejected", id=f"M{move_id}", reason=reason)
            return MoveOutcome(_view(session, move_id), changed=True)

        return self.db.transaction(work)

    @reads
    def waiting(self, worker_id: int, community_id: int) -> list[MoveView]:
        """Moves waiting for a worker of this community: out of it to approve, into it to accept."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            ids = session.scalars(
                select(CommunityMove.id)
                .where(
                    or_(
                        (CommunityMove.from_community_id == community_id) & (CommunityMove.status == "requested"),
                        (CommunityMove.to_community_id == community_id) & (CommunityMove.status == "approved"),
                    )
                )
                .order_by(CommunityMove.id)
            )
            return [_view(session, i) for i in ids]

    @reads
    def mine(self, person_id: int) -> MoveView | None:
        with self.db.read() as session:
            move_id = session.scalar(
                select(CommunityMove.id)
                .where(CommunityMove.person_id == person_id)
                .order_by(CommunityMove.id.desc())
                .limit(1)
            )
            return None if move_id is None else _view(session, move_id)

    def _claim(self, session: Session, move_id: int, old: str, new: str, **values: object) -> bool:
        claimed = session.execute(
            update(CommunityMove)
            .where(CommunityMove.id == move_id, CommunityMove.status == old)
            .values(status=new, decided_at=self.clock.now(), **values)
        )
        return rowcount(claimed) == 1


def open_requests(session: Session, person_id: int, community_id: int) -> list[int]:
    """The person's service requests under way in the community: taken, asked for or posted."""
    q = ServiceRequest
    return list(
        session.scalars(
            select(q.id)
            .where(
                q.community_id == community_id,
                q.status.in_(REQUEST_UNDER_WAY),
                or_(q.taker_id == person_id, q.requester_id == person_id, q.poster_id == person_id),
            )
            .order_by(q.id)
        )
    )


def _ids(request_ids: list[int]) -> str:
    return "、".join(f"Q{i}" for i in request_ids)


def _is_worker(session: Session, person_id: int, community_id: int) -> bool:
    return (get_person(session, person_id)).is_admin or role_in(session, person_id, community_id) == "worker"


def _get(session: Session, move_id: int) -> CommunityMove:
    move = session.get(CommunityMove, move_id)
    if move is None:
        raise NotFound("error.no_move", id=f"M{move_id}")
    return move


def _view(session: Session, move_id: int) -> MoveView:
    source, target = Community.__table__.alias("source"), Community.__table__.alias("target")
    row = (
        session.execute(
            select(
                CommunityMove.id,
                CommunityMove.person_id,
                Person.display_name,
                source.c.name,
                target.c.name,
                CommunityMove.status,
                CommunityMove.amount,
            )
            .join(Person, Person.id == CommunityMove.person_id)
            .join(source, source.c.id == CommunityMove.from_community_id)
            .join(target, target.c.id == CommunityMove.to_community_id)
            .where(CommunityMove.id == move_id)
        )
    ).first()
    if row is None:
        raise NotFound("error.no_move", id=f"M{move_id}")
    return MoveView(*row)
