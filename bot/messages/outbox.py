"""Delivering notifications: claimed with a lease, sent by the channel, then marked delivered.

Services write notifications in the same transaction as their cause (`bot.messages.notify`).
A channel's sender delivers them through the outbox worker (`bot.runtime.pipeline.OutboxWorker`):

    deliveries = outbox.claim(channel, worker, limit=50, lease=30.0)
        # undelivered notifications for people reachable on `channel` (and its group chats),
        # oldest first, leased to this claim: several processes never send the same one. A
        # lease that runs out (the process died) gives the row back to any process.
    outcome = sender.deliver(delivery)       # Sent / Retry / Unreachable / Down / Failed
    outbox.record(delivery, outcome)         # True when it was parked
        # Sent: marked delivered. Retry(after): again after `after` seconds. Unreachable: the
        # person's identity on this channel is marked unreachable and their notifications wait
        # (a group post is parked). Down: back as it was (the channel's breaker pauses
        # sending). Held: the channel's budget for the person is spent; it waits for the
        # person's next message and goes with the answer (take_in), never parked.
        # Failed: backoff, parked after MAX_TRIES tries.

A notification is marked delivered only after it was sent, so a process that dies between
sending and marking leaves it to be sent again: the one way a duplicate can happen.

`take(channel, person_id)` claims and marks delivered in one step, for a channel whose "sending"
cannot fail (the console prints). Rows sharing a coalesce key (e.g. "new pending logs") become
one message, and at most one such message a minute goes to a person. `parked()` lists what an
operator should look at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.i18n import Text
from bot.messages.delivery import MAX_TRIES, Down, Held, Outcome, Retry, Sent, Unreachable, backoff
from models import Identity, InboxEntry, Notification, Person
from models.inbox import OPEN

COALESCE_WINDOW = timedelta(minutes=1)
_claims = itertools.count(1)


@dataclass(frozen=True)
class Delivery:
    person_id: int | None
    address: str  # the channel's chat id (person's private chat, or a group)
    locale: str
    text: Text
    count: int = 1  # notifications folded into this one
    ids: tuple[int, ...] = ()  # the notification rows it stands for
    attempts: int = 0
    token: str | None = None  # the claim's lease
    channel: str = ""


@dataclass(frozen=True)
class ParkedNotification:
    id: int
    person_id: int | None
    chat: str | None
    key: str
    attempts: int
    error: str | None
    created_at: datetime


def wrote_since_elsewhere(channel: str) -> ColumnElement[bool]:
    """For an `Identity` on `channel`: its person (linked with /link) has written on another
    channel since their last message here, and can be reached there — where they are reached
    then. People with one identity never get past the first condition."""
    other = aliased(Identity)
    mine, theirs = InboxEntry.__table__.alias("mine"), InboxEntry.__table__.alias("theirs")
    last_here = (
        select(func.max(mine.c.received_at))
        .where(mine.c.channel == channel, mine.c.sender == Identity.external_id)
        # This identity's messages only: without it the subquery, two levels down, would
        # read `identities` on its own and find anyone's latest message here.
        .correlate(Identity)
        .scalar_subquery()
    )
    return exists().where(
        other.person_id == Identity.person_id,
        other.channel != channel,
        exists().where(
            theirs.c.channel == other.channel,
            theirs.c.sender == other.external_id,
            or_(last_here.is_(None), theirs.c.received_at > last_here),
            or_(other.unreachable_at.is_(None), theirs.c.received_at > other.unreachable_at),
        ),
    )


def held_released() -> ColumnElement[bool]:
    """A notification a channel held (`Held`: its budget for the person was spent) waits until
    the person writes again, on any channel, and that message has been answered (the answer
    itself carries what waited: take_in)."""
    ident = aliased(Identity)
    inbox = InboxEntry.__table__
    return or_(
        Notification.held_at.is_(None),
        exists().where(
            ident.person_id == Notification.person_id,
            inbox.c.channel == ident.channel,
            inbox.c.sender == ident.external_id,
            inbox.c.received_at > Notification.held_at,
            inbox.c.status.not_in(OPEN),
        ),
    )


class OutboxService:
    def __init__(self, db: Database, clock: Clock, default_locale: str) -> None:
        self.db, self.clock, self.default_locale = db, clock, default_locale

    def take(self, channel: str, person_id: int | None = None, limit: int = 200) -> list[Delivery]:
        """Undelivered notifications for people reachable on `channel` (and its group chats),
        or only for `person_id`; marked delivered as they are taken."""
        return self.db.transaction(lambda session: self._claim(session, channel, person_id, limit, None))

    def take_in(self, session: Session, channel: str, person_id: int, limit: int = 20) -> list[Delivery]:
        """`take` inside the transaction that answers the person's message on `channel` (they are
        here now, whatever was marked before): what waited for them is folded into the answer
        (WeChat, outside its 48-hour window)."""
        return self._claim(session, channel, person_id, limit, None, here=True)

    def claim(
        self, channel: str, worker: str, *, limit: int = 50, lease: float = 30.0, person_id: int | None = None
    ) -> list[Delivery]:
        token = f"{worker}/{next(_claims)}"
        return self.db.transaction(lambda session: self._claim(session, channel, person_id, limit, (token, lease)))

    def _claim(
        self,
        session: Session,
        channel: str,
        person_id: int | None,
        limit: int,
        lease: tuple[str, float] | None,
        *,
        here: bool = False,
    ) -> list[Delivery]:
        now = self.clock.now()
        stmt = _claim_query(channel, here, person_id is not None)
        params = {"now": now, "since": now - COALESCE_WINDOW, "limit": limit, "person": person_id}
        rows = session.execute(stmt, params).all()
        if not rows:
            return []
        if lease is None:
            values: dict[str, Any] = {"delivered_at": now, **({"delivered_via": "reply"} if here else {})}
            token = None
        else:
            token, seconds = lease
            values = {"lease_until": now + timedelta(seconds=seconds), "claimed_by": token}
        # One guarded UPDATE for the batch: a row another process claimed meanwhile is not returned.
        claimed = set(session.scalars(_CLAIM_ROWS, {"ids": [row.id for row in rows], "now": now, **values}))
        deliveries: list[Delivery] = []
        folded: dict[tuple[int | None, str], int] = {}
        for note in rows:
            external_id, chat_id, locale = note.external_id, note.chat_id, note.locale
            if note.id not in claimed:
                continue
            group = (note.person_id, note.coalesce_key) if note.coalesce_key else None
            if group in folded:
                index = folded[group]
                folded_into = deliveries[index]
                deliveries[index] = replace(folded_into, count=folded_into.count + 1, ids=(*folded_into.ids, note.id))
                continue
            if group:
                folded[group] = len(deliveries)
            address = note.chat.split(":", 1)[1] if note.chat else (chat_id or external_id)
            params = dict(note.params)
            loc = str(params.pop("_locale", None) or locale or self.default_locale)
            deliveries.append(
                Delivery(
                    note.person_id,
                    address,
                    loc,
                    Text(note.key, params),
                    ids=(note.id,),
                    attempts=note.attempts,
                    token=token,
                    channel=channel,
                )
            )
        # A coalesced message stands for every row of its kind waiting for that person, not only
        # those that fitted in this batch.
        for (person, key), index in folded.items():
            rest = session.scalars(
                _CLAIM_FOLDED, {"person": person, "coalesce": key, "ids": list(claimed), "now": now, **values}
            ).all()
            if rest:
                d = deliveries[index]
                deliveries[index] = replace(d, count=d.count + len(rest), ids=(*d.ids, *rest))
        # A folded message says how many it stands for.
        return [
            replace(d, text=Text(d.text.key, {**d.text.params, "count": d.count})) if i in folded.values() else d
            for i, d in enumerate(deliveries)
        ]

    # --- after sending ------------------------------------------------------------------------

    def record(self, delivery: Delivery, outcome: Outcome) -> bool:
        """The outcome of sending `delivery`; True when it was parked."""
        return self.record_all([(delivery, outcome)])[0]

    def record_all(self, results: list[tuple[Delivery, Outcome]]) -> list[bool]:
        """The outcomes of a round's sends, in one transaction; for each, whether it was parked."""
        now = self.clock.now()
        return self.db.transaction(lambda session: [self._record(session, d, o, now) for d, o in results])

    def _record(self, session: Session, delivery: Delivery, outcome: Outcome, now: datetime) -> bool:
        if isinstance(outcome, Sent):  # the common case: one prebuilt statement
            session.execute(
                _DELIVERED, {"ids": list(delivery.ids), "token": delivery.token, "at": now, "via": outcome.via}
            )
            return False
        mine = and_(
            Notification.id.in_(delivery.ids),
            Notification.claimed_by == delivery.token,
            Notification.delivered_at.is_(None),
        )
        if isinstance(outcome, Held):
            session.execute(
                update(Notification).where(mine).values(lease_until=None, held_at=now, error=outcome.reason[:500])
            )
        elif isinstance(outcome, Down):  # not this message's fault: back, untouched (the breaker waits)
            session.execute(update(Notification).where(mine).values(lease_until=None))
        elif isinstance(outcome, Retry):
            session.execute(
                update(Notification)
                .where(mine)
                .values(lease_until=None, not_before=now + timedelta(seconds=max(outcome.after, 0.0)))
            )
        elif isinstance(outcome, Unreachable) and delivery.person_id is not None:
            session.execute(update(Notification).where(mine).values(lease_until=None, error=outcome.reason[:500]))
            session.execute(
                update(Identity)
                .where(Identity.person_id == delivery.person_id, Identity.channel == delivery.channel)
                .values(unreachable_at=outcome.since or now)
            )
        else:  # Failed, or a group chat that will not take our posts
            error = outcome.reason if isinstance(outcome, Unreachable) else outcome.error
            attempts = delivery.attempts + 1
            parked = isinstance(outcome, Unreachable) or outcome.final or attempts >= MAX_TRIES
            done = session.execute(
                update(Notification)
                .where(mine)
                .values(
                    attempts=attempts,
                    error=error[:500],
                    lease_until=None,
                    **({"parked_at": now} if parked else {"not_before": now + backoff(attempts)}),
                )
            )
            return parked and rowcount(done) > 0
        return False

    # --- for operators ------------------------------------------------------------------------

    @reads
    def parked(self, limit: int = 100) -> list[ParkedNotification]:
        with self.db.read() as session:
            rows = (
                session.execute(
                    select(
                        Notification.id,
                        Notification.person_id,
                        Notification.chat,
                        Notification.key,
                        Notification.attempts,
                        Notification.error,
                        Notification.created_at,
                    )
                    .where(Notification.parked_at.is_not(None), Notification.delivered_at.is_(None))
                    .order_by(Notification.id)
                    .limit(limit)
                )
            ).all()
        return [ParkedNotification(*row) for row in rows]

    def retry_parked(self, notification_id: int) -> bool:
        def work(session: Session) -> bool:
            done = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.parked_at.is_not(None),
                    Notification.delivered_at.is_(None),
                )
                .values(**RETRIED)
            )
            return rowcount(done) == 1

        return self.db.transaction(work)

    def retry_all_parked(self, channel: str | None = None) -> int:
        """Every parked notification (for `channel`: see `for_channel`) goes again; how many."""

        def work(session: Session) -> int:
            stmt = update(Notification).where(parked_notification())
            if channel:
                stmt = stmt.where(for_channel(channel))
            return rowcount(session.execute(stmt.values(**RETRIED).execution_options(synchronize_session=False)))

        return self.db.transaction(work)


_N = Notification.__table__
_FREE = or_(_N.c.lease_until.is_(None), _N.c.lease_until < bindparam("now"))
# The claim's guarded UPDATEs (Core, built once; the values to set are bound per call): a row
# another process claimed meanwhile is not returned.
_CLAIM_ROWS = (
    update(_N)
    .where(_N.c.id.in_(bindparam("ids", expanding=True)), _N.c.delivered_at.is_(None), _FREE)
    .returning(_N.c.id)
)
_CLAIM_FOLDED = (
    update(_N)
    .where(
        _N.c.person_id == bindparam("person"),
        _N.c.coalesce_key == bindparam("coalesce"),
        _N.c.delivered_at.is_(None),
        _N.c.parked_at.is_(None),
        _N.c.id.not_in(bindparam("ids", expanding=True)),
        _FREE,
    )
    .returning(_N.c.id)
)
_DELIVERED = (
    update(_N)
    .where(
        _N.c.id.in_(bindparam("ids", expanding=True)),
        _N.c.claimed_by == bindparam("token"),
        _N.c.delivered_at.is_(None),
    )
    .values(delivered_at=bindparam("at"), lease_until=None, error=None, delivered_via=bindparam("via"))
)
_CLAIM_QUERIES: dict[tuple[str, bool, bool], Any] = {}


def _claim_query(channel: str, here: bool, by_person: bool) -> Any:
    """What `_claim` reads: due notifications for people reachable on `channel` (and its group
    chats), oldest first, up to :limit (of :person only, `by_person`); built once per kind, the
    times bound per call (:now, and :since for the one-a-minute rule)."""
    built = _CLAIM_QUERIES.get((channel, here, by_person))
    if built is not None:
        return built
    earlier = _N.alias("earlier")
    inbox = InboxEntry.__table__
    reachable = select(Identity.person_id, Identity.external_id, Identity.chat_id).where(Identity.channel == channel)
    if not here:
        reachable = (
            # Unreachable (the platform refused): waits until the person writes to us again and
            # that message has been answered (the answer itself carries what waited: take_in).
            reachable.where(
                or_(
                    Identity.unreachable_at.is_(None),
                    exists().where(
                        and_(
                            inbox.c.channel == channel,
                            inbox.c.sender == Identity.external_id,
                            inbox.c.received_at > Identity.unreachable_at,
                            inbox.c.status.not_in(OPEN),
                        )
                    ),
                )
            ).where(~wrote_since_elsewhere(channel))
        )
    reach = reachable.subquery()
    person = Person.__table__
    stmt = (
        select(
            _N.c.id,
            _N.c.person_id,
            _N.c.chat,
            _N.c.key,
            _N.c.params,
            _N.c.attempts,
            _N.c.coalesce_key,
            reach.c.external_id,
            reach.c.chat_id,
            person.c.locale,
        )
        .select_from(_N)
        .outerjoin(reach, reach.c.person_id == _N.c.person_id)
        .outerjoin(person, person.c.id == _N.c.person_id)
        .where(_N.c.delivered_at.is_(None), _N.c.parked_at.is_(None))
        .where(or_(_N.c.not_before.is_(None), _N.c.not_before <= bindparam("now")))
        .where(_FREE)
        .where(or_(reach.c.person_id.is_not(None), _N.c.chat.like(f"{channel}:%")))
        .order_by(_N.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if by_person:
        stmt = stmt.where(_N.c.person_id == bindparam("person"))
    if not here:
        # Held back (one such message a minute) in the query itself, so held rows never fill
        # the batch and keep what is due behind them. An answer is free: it carries them.
        stmt = stmt.where(
            held_released(),
            or_(
                _N.c.coalesce_key.is_(None),
                ~exists().where(
                    and_(
                        earlier.c.person_id == _N.c.person_id,
                        earlier.c.coalesce_key == _N.c.coalesce_key,
                        earlier.c.delivered_at.is_not(None),
                        earlier.c.delivered_at > bindparam("since"),
                    )
                ),
            ),
        )
    _CLAIM_QUERIES[channel, here, by_person] = stmt
    return stmt


RETRIED: dict[str, Any] = {"parked_at": None, "attempts": 0, "not_before": None, "error": None}  # sent back


def parked_notification() -> ColumnElement[bool]:
    return and_(Notification.parked_at.is_not(None), Notification.delivered_at.is_(None))


def for_channel(channel: str) -> ColumnElement[bool]:
    """A notification for `channel`: its group chat there, or a person with an identity there."""
    return or_(
        Notification.chat.like(f"{channel}:%"),
        exists().where(Identity.person_id == Notification.person_id, Identity.channel == channel),
    )
