"""The points ledger: accounts, immutable transfers, two-phase holds.

Every balance change is one transfer row with a unique idempotency key taken from its business
cause. A person's available points (posted - pending) never go below zero: the debit is a guarded
UPDATE in the same transaction (`WHERE posted - pending >= :amount`), so the rule holds under
concurrency on SQLite and PostgreSQL alike. Functions here work inside the caller's transaction,
so an approval can credit points atomically with the log it approves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    BindParameter,
    Connection,
    Integer,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import insert
from bot.kernel.errors import AlreadyDecided, IdempotencyConflict, InsufficientPoints, InvalidInput, NotFound
from models import Account, Transfer
from models.base import Points

# clearing: settles moves and gifts with the district's other communities; services: where
# service requests' holds post before the volunteer is paid (积分换服务).
SYSTEM_ACCOUNTS = ("issuance", "supermarket", "adjustments", "expiry", "pool", "clearing", "services")
# Accounts whose available balance must stay >= 0; the others may run negative (issuance is
# where points come from, so it goes negative as points are earned).
GUARDED = frozenset({"person", "pool"})


@dataclass(frozen=True)
class TransferResult:
    id: int
    kind: str
    phase: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    pending_id: int | None = None
    replayed: bool = False
    # The credited account's available points right after this transfer, read in the same
    # statement that credited it (None for a replay or a hold), so callers skip a balance query.
    credit_available: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Balance:
    posted: int
    pending: int
    earned_points: int
    earned_minutes: int

    @property
    def available(self) -> int:
        return self.posted - self.pending


@dataclass(frozen=True)
class HistoryItem:
    transfer_id: int
    kind: str
    phase: str
    delta: int  # signed, from the person's side; holds and releases change only `pending`
    created_at: datetime
    ref_type: str | None
    ref_id: int | None
    reason: str | None
    counterpart_id: int | None = None  # the person on the other side (a gift), if any


@dataclass(frozen=True)
class Lots:
    credits: list[tuple[datetime, int]]  # (when, points), oldest first
    spent: int  # everything posted out of the account (spending, gifts, earlier expiries)
    held: int  # on hold now: never expired

    def left_before(self, cutoff: datetime, *, count_held: bool = False) -> int:
        """Points credited before `cutoff` and still there, spending taking the oldest first.
        Held points count as taken first too, so they are never what expires; `count_held`
        leaves them in, for a notice that holds released later may expire as well."""
        old = sum(amount for at, amount in self.credits if at < cutoff)
        return unspent(old, self.spent, self.held, count_held=count_held)


def unspent(old: int, spent: int, held: int, *, count_held: bool = False) -> int:
    """Of the points credited before some instant (`old`), how many are still there when
    spending takes the oldest first and held points count as taken first (unless `count_held`)."""
    return max(0, old - spent - (0 if count_held else held))


@dataclass(frozen=True)
class Ref:
    type: str | None = None
    id: int | None = None


_COLUMNS = (
    Transfer.id,
    Transfer.kind,
    Transfer.phase,
    Transfer.debit_account_id,
    Transfer.credit_account_id,
    Transfer.amount,
    Transfer.pending_id,
)

# The hot path's statements are built once, on the Core tables, with bound parameters: building
# an ORM UPDATE per call cost more than sending it (see bench/ledger.py). Each statement also
# keeps its compiled form in SQLAlchemy's cache under a key computed only once, and is sent on
# the session's Core connection (`_core`): the ORM's execute path adds nothing to a Core
# statement but its own overhead, about as much as SQLite takes to run it.
_accounts, _transfers = Account.__table__, Transfer.__table__
_amount: BindParameter[int] = bindparam("amount")
_account: BindParameter[int] = bindparam("account")
_HOLD = (
    update(_accounts)
    .where(_accounts.c.id == _account, _accounts.c.posted - _accounts.c.pending >= _amount)
    .values(pending=_accounts.c.pending + _amount)
)
_RELEASE = update(_accounts).where(_accounts.c.id == _account).values(pending=_accounts.c.pending - _amount)
# Both sides of a posted move in one UPDATE: the debit row loses `amount` (only when it can
# afford it, for a guarded debit), the credit row gains it; each updated row returns its new
# available points. One round trip instead of two; should two moves on PostgreSQL ever lock
# the same rows in opposite orders, the deadlock is retried by Database.transaction.
# Typed as the 64-bit column: in a CASE the type is not inferred, and INTEGER is 32-bit on PostgreSQL.
_debit: BindParameter[int] = bindparam("debit")
_credit: BindParameter[int] = bindparam("credit")
_sum = bindparam("amount", type_=Points)
_MOVE = (
    # Two equalities, not IN (...): an IN list is re-rendered ("post-compiled") on every call.
    update(_accounts)
    .where(or_(_accounts.c.id == _debit, _accounts.c.id == _credit))
    .values(posted=_accounts.c.posted + case((_accounts.c.id == _credit, _sum), else_=-_sum))
    .returning(_accounts.c.id, _accounts.c.posted - _accounts.c.pending)
)
_MOVE_GUARDED = _MOVE.where(
    or_(
        # One inequality per kind rather than NOT IN (...), which is re-rendered on every call.
        _accounts.c.id != _debit,
        and_(*(_accounts.c.kind != kind for kind in sorted(GUARDED))),
        _accounts.c.posted - _accounts.c.pending >= _sum,
    )
)
# An earn also adds to the credited account's lifetime totals in the same UPDATE (the points,
# and the minutes of the approved log that earned them), so /balance reads them, never sums them.
_minutes = bindparam("minutes", type_=Integer)
_EARN = _MOVE_GUARDED.values(
    earned_points=_accounts.c.earned_points + case((_accounts.c.id == _credit, _sum), else_=0),
    earned_minutes=_accounts.c.earned_minutes + case((_accounts.c.id == _credit, _minutes), else_=0),
)
_ADD_MINUTES = (
    update(_accounts)
    .where(_accounts.c.id == _account)
    .values(
        earned_minutes=_accounts.c.earned_minutes + _minutes,
        earned_points=_accounts.c.earned_points + bindparam("earned", type_=Points),
    )
)
_BALANCE = select(_accounts.c.posted, _accounts.c.pending, _accounts.c.earned_points, _accounts.c.earned_minutes).where(
    _accounts.c.community_id == bindparam("community"),
    _accounts.c.kind == "person",
    _accounts.c.person_id == bindparam("person"),
)
_LOAD_HOLD = select(
    *(_transfers.c[c.key] for c in _COLUMNS), _transfers.c.community_id, _transfers.c.ref_type, _transfers.c.ref_id
).where(_transfers.c.id == bindparam("pending_id"))
_INSERT_TRANSFER = {
    name: insert(_transfers).on_conflict_do_nothing().returning(_transfers.c.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _history_statement(account_literal: bool):
    """A page of one account's history. Each side (credits, debits) is read newest first along
    its (account, id) index and cut at the page's end (`reach` rows), so a page costs the same
    however many transfers the person has; only those rows are merged, sorted and joined to
    their resolution and the other side's account. Resolutions are not entries of their own."""
    # PostgreSQL: the account goes in as a literal. A plan made for any account (its generic plan
    # for a statement prepared after five runs) cannot see that the system accounts hold most
    # transfers, and walks the whole table backwards by id instead of the account's index
    # (17 ms a page on a district instead of 0.1 ms). SQLite plans each statement for itself, and
    # a text per account would only be parsed again each time (190-290 µs a call against 70).
    account: BindParameter[int] = bindparam("account", type_=Integer, literal_execute=account_literal)
    reach = bindparam("reach", type_=Integer)

    def side(column, sign: int):
        # "Not a resolution" as an expression, not `pending_id IS NULL`: with statistics SQLite
        # would otherwise walk the unique pending_id index over every entry's NULL.
        return (
            select(_transfers.c.id, literal(sign).label("sign"))
            .where(column == account, func.coalesce(_transfers.c.pending_id, 0) == 0)
            .order_by(_transfers.c.id.desc())
            .limit(reach)
            .subquery()
        )

    credits, debits = side(_transfers.c.credit_account_id, 1), side(_transfers.c.debit_account_id, -1)
    mine = union_all(select(credits.c.id, credits.c.sign), select(debits.c.id, debits.c.sign)).subquery("mine")
    t, resolution, other = _transfers, _transfers.alias("resolution"), _accounts.alias("other")
    return (
        select(
            t.c.id,
            t.c.kind,
            func.coalesce(resolution.c.phase, t.c.phase).label("phase"),
            t.c.amount,
            t.c.created_at,
            t.c.ref_type,
            t.c.ref_id,
            t.c.reason,
            mine.c.sign,
            other.c.person_id.label("counterpart"),
        )
        .select_from(mine)
        .join(t, t.c.id == mine.c.id)
        .outerjoin(resolution, resolution.c.pending_id == t.c.id)
        .join(other, other.c.id == case((mine.c.sign == 1, t.c.debit_account_id), else_=t.c.credit_account_id))
        .order_by(mine.c.id.desc())
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("take", type_=Integer))
    )


_HISTORY = {"postgresql": _history_statement(True), "sqlite": _history_statement(False)}


class Ledger:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Account ids never change once created; caching them saves a query per operation.
        self._account_ids: dict[tuple[int, str, int | None], tuple[int, str]] = {}

    # --- accounts ---------------------------------------------------------------------------

    def open_system_accounts(self, session: Session, community_id: int) -> None:
        for kind in SYSTEM_ACCOUNTS:
            self._ensure_account(session, community_id, kind, None)

    def open_person_account(self, session: Session, community_id: int, person_id: int) -> int:
        return self._ensure_account(session, community_id, "person", person_id)

    def _ensure_account(self, session: Session, community_id: int, kind: str, person_id: int | None) -> int:
        found = self._account(session, community_id, kind, person_id, missing_ok=True)
        if found is not None:
            return found
        stmt = (
            insert(session, Account)
            .values(community_id=community_id, kind=kind, person_id=person_id, posted=0, pending=0)
            .on_conflict_do_nothing()
        )
        session.execute(stmt)
        found = self._account(session, community_id, kind, person_id)
        assert found is not None
        return found

    def _account(
        self, session: Session, community_id: int, kind: str, person_id: int | None, missing_ok: bool = False
    ) -> int | None:
        key = (community_id, kind, person_id)
        cached = self._account_ids.get(key)
        if cached is not None:
            return cached[0]
        owner = Account.person_id.is_(None) if person_id is None else Account.person_id == person_id
        account_id = session.scalar(
            select(Account.id).where(Account.community_id == community_id, Account.kind == kind, owner)
        )
        if account_id is None:
            if missing_ok:
                return None
            raise NotFound("error.no_account")
        self._account_ids[key] = (account_id, kind)
        return account_id

    def person_account(self, session: Session, community_id: int, person_id: int) -> int:
        return self._account(session, community_id, "person", person_id)  # type: ignore[return-value]

    def system_account(self, session: Session, community_id: int, kind: str) -> int:
        return self._account(session, community_id, kind, None)  # type: ignore[return-value]

    # --- single-phase transfers -------------------------------------------------------------

    def earn(
        self,
        session: Session,
        *,
        community_id: int,
        person_id: int,
        amount: int,
        key: str,
        ref: Ref = Ref(),
        actor_id: int | None = None,
        minutes: int = 0,
    ) -> TransferResult:
        """`minutes`: of the approved log that earned the points, added to the person's
        lifetime hours in the same statement (nothing is added on a replay)."""
        debit = self.system_account(session, community_id, "issuance")
        credit = self.open_person_account(session, community_id, person_id)
        return self.transfer(
            session,
            community_id=community_id,
            debit=debit,
            credit=credit,
            amount=amount,
            kind="earn",
            key=key,
            ref=ref,
            actor_id=actor_id,
            minutes=minutes,
        )

    def add_minutes(self, session: Session, community_id: int, person_id: int, minutes: int, points: int = 0) -> None:
        """Approved hours that came without an earn (no points, or paid by a service request)
        still count in the person's lifetime hours, and a request's pay in their points earned."""
        if minutes or points:
            account = self.open_person_account(session, community_id, person_id)
            _core(session).execute(_ADD_MINUTES, {"account": account, "minutes": minutes, "earned": points})

    def adjust(
        self,
        session: Session,
        *,
        community_id: int,
        person_id: int,
        amount: int,
        reason: str,
        key: str,
        actor_id: int,
    ) -> TransferResult:
        """A manual correction: positive credits the person, negative debits them. The caller
        checks the actor's role and writes the audit entry."""
        if amount == 0:
            raise InvalidInput("error.amount_positive")
        if not reason.strip():
            raise InvalidInput("error.reason_required")
        system = self.system_account(session, community_id, "adjustments")
        person = self.person_account(session, community_id, person_id)
        debit, credit = (system, person) if amount > 0 else (person, system)
        return self.transfer(
            session,
            community_id=community_id,
            debit=debit,
            credit=credit,
            amount=abs(amount),
            kind="adjust",
            key=key,
            actor_id=actor_id,
            reason=reason.strip(),
        )

    def gift(
        self,
        session: Session,
        *,
        community_id: int,
        from_person_id: int,
        to_person_id: int,
        amount: int,
        key: str,
    ) -> TransferResult:
        if from_person_id == to_person_id:
            raise InvalidInput("error.gift_self")
        debit = self.person_account(session, community_id, from_person_id)
        credit = self.open_person_account(session, community_id, to_person_id)
        return self.transfer(
            session,
            community_id=community_id,
            debit=debit,
            credit=credit,
            amount=amount,
            kind="gift",
            key=key,
            actor_id=from_person_id,
        )

    def donate(self, session: Session, *, community_id: int, person_id: int, amount: int, key: str) -> TransferResult:
        debit = self.person_account(session, community_id, person_id)
        credit = self.system_account(session, community_id, "pool")
        return self.transfer(
            session,
            community_id=community_id,
            debit=debit,
            credit=credit,
            amount=amount,
            kind="donate",
            key=key,
            actor_id=person_id,
        )

    def across(
        self,
        session: Session,
        *,
        from_community_id: int,
        from_person_id: int,
        to_community_id: int,
        to_person_id: int,
        amount: int,
        kind: str,
        key: str,
        ref: Ref = Ref(),
        actor_id: int | None = None,
    ) -> TransferResult:
        """Points from a person in one community to a person in another (a move, a family gift),
        through both communities' clearing accounts: each community's transfers stay inside its own
        books, so each community sums to zero with its clearing account, and the district too.
        Returns the outgoing leg, keyed `key`; the incoming leg is keyed `key:in`."""
        if from_community_id == to_community_id:
            raise InvalidInput("error.same_community")
        debit = self.person_account(session, from_community_id, from_person_id)
        # Communities created before clearing existed get their account on first use.
        out_clearing = self._ensure_account(session, from_community_id, "clearing", None)
        in_clearing = self._ensure_account(session, to_community_id, "clearing", None)
        credit = self.open_person_account(session, to_community_id, to_person_id)
        out = self.transfer(
            session,
            community_id=from_community_id,
            debit=debit,
            credit=out_clearing,
            amount=amount,
            kind=kind,
            key=key,
            ref=ref,
            actor_id=actor_id,
        )
        self.transfer(
            session,
            community_id=to_community_id,
            debit=in_clearing,
            credit=credit,
            amount=amount,
            kind=kind,
            key=f"{key}:in",
            ref=ref,
            actor_id=actor_id,
        )
        return out

    def expire_points(
        self, session: Session, *, community_id: int, person_id: int, amount: int, key: str
    ) -> TransferResult:
        """Expired points go to the community's expiry account; never a deletion."""
        debit = self.person_account(session, community_id, person_id)
        credit = self.system_account(session, community_id, "expiry")
        return self.transfer(
            session,
            community_id=community_id,
            debit=debit,
            credit=credit,
            amount=amount,
            kind="expire_points",
            key=key,
        )

    def transfer(
        self,
        session: Session,
        *,
        community_id: int,
        debit: int,
        credit: int,
        amount: int,
        kind: str,
        key: str,
        ref: Ref = Ref(),
        actor_id: int | None = None,
        reason: str | None = None,
        minutes: int = 0,
    ) -> TransferResult:
        _check_amount(amount)
        expected = TransferResult(0, kind, "posted", debit, credit, amount)
        new_id = self._insert_transfer(session, expected, community_id, key, ref, actor_id, reason)
        if new_id is None:
            return self._replay(session, key, expected, ref, reason)
        available = self._move_posted(
            session, debit, credit, amount, earned_minutes=minutes if kind == "earn" else None
        )
        return _with_id(expected, new_id, credit_available=available)

    # --- two-phase transfers ----------------------------------------------------------------

    def hold(
        self,
        session: Session,
        *,
        community_id: int,
        person_id: int,
        amount: int,
        key: str,
        ref: Ref = Ref(),
        counterparty: str = "supermarket",
        kind: str = "redeem",
        actor_id: int | None = None,
        from_pool: bool = False,
    ) -> TransferResult:
        """Reserve points: pending grows, available shrinks, posted stays. `from_pool` holds the
        community pool's points instead of the person's (a service the pool pays for)."""
        _check_amount(amount)
        debit = (
            self.system_account(session, community_id, "pool")
            if from_pool
            else self.person_account(session, community_id, person_id)
        )
        credit = self.system_account(session, community_id, counterparty)
        expected = TransferResult(0, kind, "pending", debit, credit, amount)
        new_id = self._insert_transfer(session, expected, community_id, key, ref, actor_id, None)
        if new_id is None:
            return self._replay(session, key, expected, ref)
        guarded = _core(session).execute(_HOLD, {"account": debit, "amount": amount})
        if guarded.rowcount != 1:
            raise InsufficientPoints(amount=amount)
        return _with_id(expected, new_id)

    def post(self, session: Session, *, pending_id: int, key: str, actor_id: int | None = None) -> TransferResult:
        return self._resolve(session, pending_id, "post", key, actor_id)

    def void(self, session: Session, *, pending_id: int, key: str, actor_id: int | None = None) -> TransferResult:
        return self._resolve(session, pending_id, "void", key, actor_id)

    def expire(self, session: Session, *, pending_id: int, key: str) -> TransferResult:
        return self._resolve(session, pending_id, "expire", key, None)

    def _resolve(self, session: Session, pending_id: int, phase: str, key: str, actor_id: int | None) -> TransferResult:
        hold = _core(session).execute(_LOAD_HOLD, {"pending_id": pending_id}).first()
        if hold is None or hold.phase != "pending":
            raise NotFound("error.no_hold")
        expected = TransferResult(
            0, hold.kind, phase, hold.debit_account_id, hold.credit_account_id, hold.amount, pending_id
        )
        ref = Ref(hold.ref_type, hold.ref_id)
        new_id = self._insert_transfer(session, expected, hold.community_id, key, ref, actor_id, None)
        if new_id is None:
            replay = self._replay_or_none(session, key, expected, ref)
            if replay is None:  # another request resolved this hold first
                raise AlreadyDecided("error.hold_resolved")
            return replay
        _core(session).execute(_RELEASE, {"account": hold.debit_account_id, "amount": hold.amount})
        if phase == "post":
            # The hold already reserved the points; posting cannot overdraw, so no guard here.
            self._move_posted(session, hold.debit_account_id, hold.credit_account_id, hold.amount, guard=False)
        return _with_id(expected, new_id)

    # --- reads ------------------------------------------------------------------------------

    def balance(self, session: Session, community_id: int, person_id: int) -> Balance:
        """Posted, pending and the lifetime totals: one row, kept up to date by the ledger."""
        row = _core(session).execute(_BALANCE, {"community": community_id, "person": person_id}).first()
        if row is None:
            return Balance(0, 0, 0, 0)
        return Balance(*row)

    def history(
        self, session: Session, community_id: int, person_id: int, *, page: int = 0, page_size: int = 10
    ) -> tuple[list[HistoryItem], bool]:
        """Newest first; returns the page and whether an older page exists. A hold and what
        resolved it are one entry, in the phase it has come to (pending, post, void, expire)."""
        account = self._account(session, community_id, "person", person_id, missing_ok=True)
        if account is None:
            return [], False
        conn = _core(session)
        rows = conn.execute(
            _HISTORY[_dialect(conn)],
            {
                "account": account,
                "reach": (page + 1) * page_size + 1,
                "skip": page * page_size,
                "take": page_size + 1,
            },
        ).all()
        items = [
            HistoryItem(
                r.id, r.kind, r.phase, r.sign * r.amount, r.created_at, r.ref_type, r.ref_id, r.reason, r.counterpart
            )
            for r in rows[:page_size]
        ]
        return items, len(rows) > page_size

    def prior(self, session: Session, key: str) -> TransferResult | None:
        """The transfer already made under `key`, for a caller whose route (one community or
        across two) depends on state that may have changed since the first request."""
        row = (session.execute(select(*_COLUMNS).where(Transfer.idempotency_key == key))).first()
        return None if row is None else TransferResult(*row, replayed=True)

    def lock_person(self, session: Session, community_id: int, person_id: int) -> None:
        """Take the person's account row lock until the transaction ends (PostgreSQL), for a
        decision read from their transfers before it moves points: a concurrent spend waits.
        SQLite's writer is serial already (`FOR UPDATE` renders as nothing there)."""
        account = self._account(session, community_id, "person", person_id, missing_ok=True)
        if account is not None:
            session.execute(select(Account.id).where(Account.id == account).with_for_update())

    def person_accounts(self, session: Session, person_id: int) -> set[int]:
        """The person's accounts in every community they have points in."""
        return set(session.scalars(select(Account.id).where(Account.kind == "person", Account.person_id == person_id)))

    def unspent_before(
        self, session: Session, community_id: int, cutoff: datetime, *, count_held: bool = False
    ) -> list[tuple[int, int]]:
        """`Lots.left_before` for every person of the community holding points, in one query:
        (person, points credited before `cutoff` and still there), oldest spent first."""
        t = Transfer.__table__.alias("t")
        posted = t.c.phase.in_(("posted", "post"))
        old = (
            select(func.coalesce(func.sum(t.c.amount), 0))
            .where(t.c.credit_account_id == Account.id, posted, t.c.created_at < cutoff)
            .scalar_subquery()
        )
        spent = (
            select(func.coalesce(func.sum(t.c.amount), 0))
            .where(t.c.debit_account_id == Account.id, posted)
            .scalar_subquery()
        )
        rows = (
            session.execute(
                select(Account.person_id, old, spent, Account.pending)
                .where(Account.community_id == community_id, Account.kind == "person", Account.posted > 0)
                .order_by(Account.person_id)
            )
        ).all()
        found = [(r[0], unspent(int(r[1]), int(r[2]), int(r[3]), count_held=count_held)) for r in rows]
        return [(person_id, amount) for person_id, amount in found if amount > 0]

    def lots(self, session: Session, community_id: int, person_id: int) -> Lots:
        """What points expiry needs of one person account: its posted credits with their times
        (the lots, oldest first), everything posted out of it, and what is on hold."""
        account = self._account(session, community_id, "person", person_id, missing_ok=True)
        if account is None:
            return Lots([], 0, 0)
        posted = Transfer.phase.in_(("posted", "post"))
        credits = (
            session.execute(
                select(Transfer.created_at, Transfer.amount)
                .where(Transfer.credit_account_id == account, posted)
                .order_by(Transfer.id)
            )
        ).all()
        debits = session.scalar(
            select(func.coalesce(func.sum(Transfer.amount), 0)).where(Transfer.debit_account_id == account, posted)
        )
        pending = session.scalar(select(Account.pending).where(Account.id == account))
        return Lots([(c.created_at, int(c.amount)) for c in credits], int(debits or 0), int(pending or 0))

    # --- internals --------------------------------------------------------------------------

    def _insert_transfer(
        self,
        session: Session,
        t: TransferResult,
        community_id: int,
        key: str,
        ref: Ref,
        actor_id: int | None,
        reason: str | None,
    ) -> int | None:
        """Insert the row, or return None when the key (or, for a resolution, the hold) is taken.
        ON CONFLICT DO NOTHING makes a concurrent duplicate wait for the winner instead of failing."""
        if not key or len(key) > 160:
            raise InvalidInput("error.bad_key")
        conn = _core(session)
        stmt = _INSERT_TRANSFER[_dialect(conn)]
        return conn.scalar(
            stmt,
            {
                "community_id": community_id,
                "debit_account_id": t.debit_account_id,
                "credit_account_id": t.credit_account_id,
                "amount": t.amount,
                "kind": t.kind,
                "phase": t.phase,
                "pending_id": t.pending_id,
                "idempotency_key": key,
                "ref_type": ref.type,
                "ref_id": ref.id,
                "actor_id": actor_id,
                "reason": reason,
                "created_at": self.clock.now(),
            },
        )

    def _replay(
        self, session: Session, key: str, expected: TransferResult, ref: Ref, reason: str | None = None
    ) -> TransferResult:
        """The first result for `key`, which must exist (see `_replay_or_none`)."""
        found = self._replay_or_none(session, key, expected, ref, reason)
        if found is None:
            raise NotFound("error.no_transfer")
        return found

    def _replay_or_none(
        self, session: Session, key: str, expected: TransferResult, ref: Ref, reason: str | None = None
    ) -> TransferResult | None:
        """The first result for `key`, when it was asked with the same arguments (accounts,
        amount, kind, phase, hold, cause and reason); anything else reusing the key is refused.
        None when no transfer has the key."""
        row = (
            session.execute(
                select(*_COLUMNS, Transfer.ref_type, Transfer.ref_id, Transfer.reason).where(
                    Transfer.idempotency_key == key
                )
            )
        ).first()
        if row is None:
            return None
        found = TransferResult(
            row.id,
            row.kind,
            row.phase,
            row.debit_account_id,
            row.credit_account_id,
            row.amount,
            row.pending_id,
            replayed=True,
        )
        same_cause = (row.ref_type, row.ref_id, row.reason) == (ref.type, ref.id, reason)
        if _with_id(expected, row.id, replayed=True) != found or not same_cause:
            raise IdempotencyConflict(key=key)
        return found

    def _move_posted(
        self,
        session: Session,
        debit: int,
        credit: int,
        amount: int,
        guard: bool = True,
        earned_minutes: int | None = None,
    ) -> int | None:
        """Returns the credited account's available points after the move. `earned_minutes` not
        None: the move is an earn, counted in the credited account's lifetime totals."""
        params = {"debit": debit, "credit": credit, "amount": amount}
        if earned_minutes is not None:
            statement, params["minutes"] = _EARN, earned_minutes
        else:
            statement = _MOVE_GUARDED if guard else _MOVE
        moved: dict[int, int] = {account: available for account, available in _core(session).execute(statement, params)}
        if debit not in moved:  # the guard held the debit row back; the caller's rollback undoes the credit
            raise InsufficientPoints(amount=amount)
        return moved.get(credit)


def _core(session: Session) -> Connection:
    """The session's connection, in its transaction: Core statements skip the ORM's execute path."""
    return session.connection()


def _dialect(conn: Connection) -> str:
    """The key of a statement built once for each database."""
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidInput("error.amount_positive")


def _with_id(
    t: TransferResult, new_id: int, replayed: bool = False, credit_available: int | None = None
) -> TransferResult:
    return TransferResult(
        new_id,
        t.kind,
        t.phase,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.pending_id,
        replayed,
        credit_available,
    )
