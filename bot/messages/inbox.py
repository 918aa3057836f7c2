"""The inbox: every incoming update is committed before the platform is answered, then handled
exactly once.

Channel adapters (`handlers/<channel>/`) and the inbox worker (`bot.runtime.pipeline`) use it with plain
values; nothing here knows a platform.

Taking an update in (the webhook handler, or a long-polling loop):

    stored = inbox.store(channel, platform_id, sender, payload)
    # a sender past their pace (`Pace`: a burst, then so many a minute) has the entry scheduled
    # for later, in order, and is told once (a notification) to slow down.
    # answer the platform only now: stored.id is committed; stored.duplicate is True when
    # (channel, platform_id) was stored before (a retry, a redelivery, another process got it),
    # and then nothing was written.
    stored = inbox.store(channel, platform_id, sender, payload, lease=(worker, seconds))
    # the same, and an update that can be handled now is leased to that worker in the same
    # transaction (stored.entry; the worker's `lease_at_store` offers a free hand): no claim.

`platform_id` is the platform's own id of the update (Telegram `update_id`, WeChat `MsgId` or
FromUserName + CreateTime for events). `sender` orders one person's updates (their Telegram user
id, their openid): entries of one sender are handled one at a time, in the order they were
stored. `payload` is the update as JSON, kept for the handler.

Handling (the inbox worker does this; a channel adapter only implements `handle`):

    entries = inbox.claim(worker, limit, lease, channels)
        # leases up to `limit` entries: each sender's head (their oldest open entry), in queue
        # order (a sender whose next entry came up waits behind everyone already waiting), whose
        # lease has run out (a crashed process's entries come back after `lease` seconds) and
        # whose backoff, hold or pace is over. Several processes never hold the same entry. A person whose reply
        # was refused (Unreachable) is reachable again once they write to us again.
    inbox.settle(session, entry, reply, hold=None)
        # inside the transaction that finishes the handling (the dialog turn's one transaction):
        # stores the reply and marks the entry handled, or done when there is no reply. Raises
        # LeaseLost (rolling the transaction back) when another process took the entry over.
        # `hold` (seconds): leave the reply for the HTTP handler to answer passively for that
        # long before a worker pushes it (WeChat's 5-second passive reply).
    inbox.replied(entry, parts, via="sent")   # the reply went out: done (or pass
                                                    # (entry, parts) to the next claim as `replied`)
        # a turn that only read is not settled: its entry, still new, carries the reply (and
        # `then`, its dialog state's save) to this mark, which stores them with it
    inbox.outcome(entry, outcome)             # a sender's Outcome for the reply
    inbox.failed(entry, error)                # handling raised: backoff, parked after
                                                    # MAX_TRIES tries with the admins told
    inbox.renew(tokens, lease)                # keep leases of long handlings alive

A webhook that answers with the reply itself (WeChat's passive reply):

    result = inbox.wait(entry_id, timeout)    # None when not handled within `timeout`;
        # else Result(status, reply, replied): status 'handled' (reply waiting), 'done', 'parked'
    reply = inbox.take_reply(entry_id)        # the stored reply, marked done as passive,
        # or None when a worker already pushed it (or is pushing it now)

and for a retried platform id, `inbox.result(channel, platform_id)` reads the same Result,
so the retry gets the same answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database, insert, reads, rowcount
from bot.messages.delivery import MAX_TRIES, Failed, Outcome, Retry, Sent, Unreachable, backoff, short
from bot.messages.notify import notify, notify_admins
from models import Identity, InboxEntry
from models.inbox import OPEN

POLL = 0.05  # seconds between looks at an entry another process is handling
_claims = itertools.count(1)  # makes each claim's lease token unique within the process


class LeaseLost(Exception):
    """The entry's lease ran out and another process took it over: this handling must not count."""


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool
    entry: Entry | None = None  # leased to the storing worker at once (`store(..., lease=...)`)


@dataclass(frozen=True)
class Entry:
    id: int
    channel: str
    platform_id: str
    sender: str
    payload: dict[str, Any]
    status: str  # new: to handle; handled: only the reply is left to send
    attempts: int
    reply: dict[str, Any] | None
    reply_sent: int
    token: str  # this claim's lease
    # A read-only turn's dialog state, saved with the mark that its reply went out (`settle_later`).
    then: Callable[[], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Result:
    status: str
    reply: dict[str, Any] | None
    replied: str | None


@dataclass(frozen=True)
class Parked:
    id: int
    channel: str
    platform_id: str
    sender: str
    attempts: int
    error: str | None
    received_at: Any


_T = InboxEntry.__table__
_LOCKS = 0x1B0  # the advisory-lock class of the inbox's per-sender locks (PostgreSQL)


def _lock(session: Session, channel: str, sender: str) -> None:
    """Serialise changes to one sender's queue (storing, a head leaving) across processes, so a
    head is never lost between a store and a finish that do not see each other's rows. SQLite
    has one writer: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCKS, func.hashtext(f"{channel}\x1f{sender}"))))


def _promote(session: Session, channel: str, sender: str) -> None:
    """When the sender has no head, their oldest open entry becomes it, behind every waiting
    person. Called under `_lock`."""
    head, *firsts = session.execute(_HEAD_AND_FIRSTS, {"channel": channel, "sender": sender}).one()
    if head is not None:
        return
    first = min((f for f in firsts if f is not None), default=None)
    if first is not None:
        session.execute(_PROMOTE, {"entry": first})


_MINE = and_(_T.c.channel == bindparam("channel"), _T.c.sender == bindparam("sender"))
_HEAD_OF = select(_T.c.id).where(_MINE, _T.c.head_seq.is_not(None))
# One index seek per open state (ix_inbox_open), however many wait. Ordered as that index is:
# with min(id), PostgreSQL's generic plan for the prepared statement walked the primary key
# instead, through every row when the person had none in that state (90 ms with 30,000 rows).
_FIRST_OPEN = [
    select(_T.c.id)
    .where(_T.c.status == status, _MINE)
    .order_by(_T.c.status, _T.c.channel, _T.c.sender, _T.c.id)
    .limit(1)
    for status in OPEN
]
# The sender's head, and their first entry in each open state, in one statement.
_HEAD_AND_FIRSTS = select(_HEAD_OF.scalar_subquery(), *(first.scalar_subquery() for first in _FIRST_OPEN))
# Built once (an alias costs more to build than the statement takes to run).
_QUEUED, _HEADS = _T.alias("queued"), _T.alias("heads")
# The queue place behind every head waiting (one seek on ix_inbox_queue).
_NEXT_HEAD = (
    select(func.coalesce(func.max(_QUEUED.c.head_seq), 0) + 1).where(_QUEUED.c.head_seq.is_not(None)).scalar_subquery()
)
# A sender's last entry (for the pace) and their head if they have one.
_LAST = (
    select(
        _T.c.received_at,
        _T.c.pace_at,
        select(_HEADS.c.id)
        .where(
            _HEADS.c.channel == bindparam("channel"),
            _HEADS.c.sender == bindparam("sender"),
            _HEADS.c.head_seq.is_not(None),
        )
        .scalar_subquery(),
    )
    .where(
        _T.c.channel == bindparam("channel"),
        _T.c.sender == bindparam("sender"),
    )
    .order_by(_T.c.id.desc())
    .limit(1)
)


# The hot path's statements, built once on the table (Core: the ORM's DML layer costs more per
# call than these take to run), their values bound per call.
_ENTRY_COLUMNS = (
    _T.c.id,
    _T.c.channel,
    _T.c.platform_id,
    _T.c.sender,
    _T.c.payload,
    _T.c.status,
    _T.c.attempts,
    _T.c.reply,
    _T.c.reply_sent,
)
_FREE = or_(_T.c.lease_until.is_(None), _T.c.lease_until < bindparam("now"))


def _claim_statement(postgresql: bool) -> Any:
    """Lease up to :limit heads of :channels, in queue order; returns the entries' columns."""
    # Only heads: one row per waiting person, however many updates wait behind them.
    candidates = (
        select(_T.c.id)
        .where(
            _T.c.head_seq.is_not(None),
            _T.c.channel.in_(bindparam("channels", expanding=True)),
            _FREE,
            or_(_T.c.not_before.is_(None), _T.c.not_before <= bindparam("now")),
        )
        .order_by(_T.c.head_seq, _T.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if postgresql:
        candidates = candidates.with_for_update(skip_locked=True, of=_T)
    return (
        update(_T)
        .where(_T.c.id.in_(candidates.scalar_subquery()), _FREE)
        .values(lease_until=bindparam("until"), leased_by=bindparam("token"))
        .returning(*_ENTRY_COLUMNS)
    )


_CLAIM = {False: _claim_statement(False), True: _claim_statement(True)}
_MINE_LEASED = and_(_T.c.id == bindparam("entry"), _T.c.leased_by == bindparam("token"))
# A reply sent: the entry is done (handed on by `_finish`). `_SENT_FRESH`: a read-only turn's
# reply, which was never stored before it went out (`InboxService.settle_later`).
_SENT = (
    update(_T).where(_MINE_LEASED).values(status="done", replied="sent", lease_until=None, error=None, head_seq=None)
)
_SENT_FRESH = _SENT.where(_T.c.status == "new")
_SETTLE = update(_T).where(_MINE_LEASED, _T.c.status == "new")
_STORE: dict[tuple[str, bool], Any] = {}


def _store_statement(session: Session, head: bool) -> Any:
    """The INSERT of a new entry for the session's dialect, as its sender's head (behind everyone
    waiting) or not; built once each, the values bound per call."""
    dialect = session.get_bind().dialect.name
    built = _STORE.get((dialect, head))
    if built is None:
        values = {"head_seq": _NEXT_HEAD} if head else {"head_seq": None}
        built = insert(session, _T).values(**values).on_conflict_do_nothing().returning(_T.c.id)
        _STORE[dialect, head] = built
    return built


_SETTLE_DONE = _SETTLE.values(head_seq=None)
_PROMOTE = update(_T).where(_T.c.id == bindparam("entry")).values(head_seq=_NEXT_HEAD)


def _finish(session: Session, channel: str, sender: str, done: Any, params: dict[str, Any] | None = None) -> bool:
    """Run `done`, an UPDATE taking an entry out of the open states, and hand the sender's head
    on; False (and nothing changed) when its WHERE matched nothing (a lease lost). With
    `params`, `done` is a prebuilt statement that clears `head_seq` itself."""
    _lock(session, channel, sender)
    result = session.execute(done.values(head_seq=None)) if params is None else session.execute(done, params)
    if rowcount(result) != 1:
        return False
    _promote(session, channel, sender)
    return True


@dataclass(frozen=True)
class Pace:
    """How fast one sender's updates are handled: `burst` at once, then `per_minute` (0: no
    limit). A generic cell rate algorithm: each entry keeps the sender's theoretical time after
    it (`pace_at`), so the next store reads one row, the sender's last."""

    burst: int = 100
    per_minute: int = 60

    def next(self, now: datetime, before: Any) -> tuple[datetime, datetime | None, bool]:
        """(when the new entry may be handled, its `pace_at`, whether a flood starts with it)
        after `before`, the sender's last entry (received_at, pace_at) or None."""
        if self.per_minute <= 0:
            return now, None, False
        step = timedelta(seconds=60 / self.per_minute)
        slack = step * (max(self.burst, 1) - 1)
        last = before.pace_at if before is not None and before.pace_at is not None else None
        tat = max(now, last) if last is not None else now
        due = max(now, tat - slack)
        was_paced = last is not None and last - step - slack > before.received_at
        return due, tat + step, due > now and not was_paced


class InboxService:
    def __init__(self, db: Database, clock: Clock, pace: Pace | None = None) -> None:
        self.db, self.clock = db, clock
        self.pace = pace or Pace()
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}  # entry → its waiter
        self._poller: asyncio.Task[None] | None = None

    # --- in -----------------------------------------------------------------------------------

    def store(
        self,
        channel: str,
        platform_id: str,
        sender: str,
        payload: dict[str, Any],
        lease: tuple[str, float] | None = None,
    ) -> Stored:
        """Commit the update; a sender over their pace (a flood) gets it scheduled for later, in
        order, and the first time in a flood they are told, once, to slow down. `lease` (a
        worker with a free hand, and the seconds): an update that can be handled now (nothing of
        the sender's before it, not paced) is leased to it in the same transaction, and returned
        as `Stored.entry`, so the worker needs no claim of its own for it."""

        def work(session: Session) -> Stored:
            now = self.clock.now()
            _lock(session, channel, sender)
            # Two statements, as a busy webhook stores hundreds at once: the sender's last entry
            # (for the pace) with whether they have a head; without one nothing of theirs is open,
            # so the new entry is their head, behind everyone waiting.
            before = session.execute(_LAST, {"channel": channel, "sender": sender}).first()
            due, pace_at, flood_starts = self.pace.next(now, before)
            head = None if before is not None and before[2] is not None else _NEXT_HEAD
            mine = None
            if lease is not None and head is not None and due <= now:
                mine = f"{lease[0]}/{next(_claims)}"
            new_id = session.scalar(
                _store_statement(session, head is not None),
                {
                    "channel": channel,
                    "platform_id": platform_id,
                    "sender": sender,
                    "payload": payload,
                    "status": "new",
                    "attempts": 0,
                    "reply_sent": 0,
                    "received_at": now,
                    "pace_at": pace_at,
                    "not_before": due if due > now else None,
                    "leased_by": mine,
                    "lease_until": None if lease is None or mine is None else now + timedelta(seconds=lease[1]),
                },
            )
            if new_id is not None:
                if flood_starts:
                    self._slow_down(session, channel, sender, due - now)
                if mine is None:
                    return Stored(new_id, False)
                entry = Entry(new_id, channel, platform_id, sender, payload, "new", 0, None, 0, mine)
                return Stored(new_id, False, entry)
            old = session.scalar(
                select(InboxEntry.id).where(InboxEntry.channel == channel, InboxEntry.platform_id == platform_id)
            )
            assert old is not None
            return Stored(old, True)

        return self.db.transaction(work)

    def _slow_down(self, session: Session, channel: str, sender: str, wait: timedelta) -> None:
        person_id = session.scalar(
            select(Identity.person_id).where(Identity.channel == channel, Identity.external_id == sender)
        )
        if person_id is not None:  # a stranger's flood is paced all the same, without a word
            notify(session, self.clock, person_id, "inbox.slow_down", minutes=max(1, round(wait.total_seconds() / 60)))

    # --- handling -----------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease: float,
        channels: tuple[str, ...],
        replied: list[tuple[Entry, int]] | None = None,
    ) -> list[Entry]:
        """`replied`: entries whose replies went out (with how many parts), marked done in the same
        transaction first, so a busy worker spends one transaction, not two, per update."""
        if (limit <= 0 or not channels) and not replied:
            return []
        now = self.clock.now()
        mine = f"{worker}/{next(_claims)}"

        def work(session: Session) -> list[Entry]:
            self._mark_sent(session, replied or ())
            if limit <= 0 or not channels:
                return []
            postgresql = session.get_bind().dialect.name == "postgresql"
            rows = session.execute(
                _CLAIM[postgresql],
                {
                    "now": now,
                    "channels": list(channels),
                    "limit": limit,
                    "until": now + timedelta(seconds=lease),
                    "token": mine,
                },
            ).all()
            return sorted((Entry(**row._asdict(), token=mine) for row in rows), key=lambda e: e.id)

        entries = self.db.transaction(work)
        for e, _ in replied or ():
            self.signal(e.id)
        return entries

    def _mark_sent(self, session: Session, replied: Any) -> None:
        """Replies that went out, marked done (in one transaction however many): an entry whose
        turn only read (`settle_later`: still new, with the reply it was sent) gets its reply stored
        with the mark."""
        now = self.clock.now()
        for e, parts in sorted(replied, key=lambda r: (r[0].channel, r[0].sender, r[0].id)):
            params: dict[str, Any] = {"entry": e.id, "token": e.token, "reply_sent": parts}
            fresh = e.status == "new" and e.reply is not None
            if fresh:
                params.update(reply=e.reply, handled_at=now)
            if _finish(session, e.channel, e.sender, _SENT_FRESH if fresh else _SENT, params) and fresh and e.then:
                e.then()

    def renew(self, tokens: list[str], lease: float) -> None:
        if not tokens:
            return

        def work(session: Session) -> None:
            # Only leases still held: an entry settled with a hold gave its lease up for the webhook
            # to take the passive answer, even while others of the same claim are still handled.
            session.execute(
                update(InboxEntry)
                .where(
                    InboxEntry.leased_by.in_(tokens), InboxEntry.status.in_(OPEN), InboxEntry.lease_until.is_not(None)
                )
                .values(lease_until=self.clock.now() + timedelta(seconds=lease))
            )

        self.db.transaction(work)

    def settle(
        self, session: Session, entry: Entry, reply: dict[str, Any] | None, *, hold: float | None = None
    ) -> None:
        now = self.clock.now()
        values: dict[str, Any] = {"handled_at": now, "reply": reply, "error": None}
        if reply is None:
            values.update(status="done", replied="none", lease_until=None)
        elif hold:
            values.update(status="handled", not_before=now + timedelta(seconds=hold), lease_until=None)
        else:
            values["status"] = "handled"
        params = {"entry": entry.id, "token": entry.token, **values}
        if reply is None:
            won = _finish(session, entry.channel, entry.sender, _SETTLE_DONE, params)
        else:
            won = rowcount(session.execute(_SETTLE, params)) == 1
        if not won:
            raise LeaseLost(f"inbox entry {entry.id} was taken over")

    def replace_reply(self, session: Session, entry: Entry, reply: dict[str, Any]) -> None:
        """The stored reply, completed after the turn (its files made): only while this worker
        still holds the entry."""
        session.execute(
            update(InboxEntry).where(InboxEntry.id == entry.id, InboxEntry.leased_by == entry.token).values(reply=reply)
        )

    def replied(self, entry: Entry, parts: int, via: str = "sent") -> None:
        if via == "sent":
            self.db.transaction(lambda session: self._mark_sent(session, [(entry, parts)]))
        else:
            self.db.transaction(
                lambda session: _finish(
                    session,
                    entry.channel,
                    entry.sender,
                    update(InboxEntry)
                    .where(
                        InboxEntry.id == entry.id,
                        InboxEntry.leased_by == entry.token,
                    )
                    .values(status="done", reply_sent=parts, replied=via, lease_until=None, error=None),
                )
            )
        self.signal(entry.id)

    def outcome(self, entry: Entry, outcome: Outcome) -> bool:
        """Record what the sender said about the reply; True when the entry is finished."""
        parts = entry.reply_sent + outcome.parts
        if isinstance(outcome, Sent):
            self.replied(entry, parts)
            return True
        if isinstance(outcome, Unreachable):
            self._unreachable(entry, parts, outcome.reason)
            return True
        if isinstance(outcome, Retry):
            self._update(
                entry,
                reply_sent=parts,
                lease_until=None,
                not_before=self.clock.now() + timedelta(seconds=max(outcome.after, 0.0)),
            )
            return False
        if isinstance(outcome, Failed):
            return self._failure(entry, outcome.error, parts=parts, final=outcome.final)
        # Down (the pipeline turns a reply's into a Retry) and Held (notifications only): a failure
        # to try again, never an attribute error.
        return self._failure(entry, f"{type(outcome).__name__.lower()}: {outcome.reason}", parts=parts, final=False)

    def failed(self, entry: Entry, error: object) -> bool:
        """The handling raised: try again later; True when the entry was parked."""
        return self._failure(entry, short(error), parts=entry.reply_sent, final=False)

    def _failure(self, entry: Entry, error: str, *, parts: int, final: bool) -> bool:
        now = self.clock.now()
        attempts = entry.attempts + 1
        parked = final or attempts >= MAX_TRIES

        def work(session: Session) -> None:
            values: dict[str, Any] = {"attempts": attempts, "error": error, "reply_sent": parts, "lease_until": None}
            if parked:
                values["status"] = "parked"
            else:
                values["not_before"] = now + backoff(attempts)
            mark = update(InboxEntry).where(InboxEntry.id == entry.id, InboxEntry.leased_by == entry.token)
            if not parked:
                session.execute(mark.values(**values))
            elif _finish(session, entry.channel, entry.sender, mark.values(**values)):
                notify_admins(
                    session,
                    self.clock,
                    "inbox.parked",
                    channel=entry.channel,
                    entry=entry.id,
                    sender=entry.sender,
                    error=error[:200],
                )

        self.db.transaction(work)
        self.signal(entry.id)
        return parked

    def _unreachable(self, entry: Entry, parts: int, reason: str) -> None:
        def work(session: Session) -> None:
            _finish(
                session,
                entry.channel,
                entry.sender,
                update(InboxEntry)
                .where(
                    InboxEntry.id == entry.id,
                    InboxEntry.leased_by == entry.token,
                )
                .values(status="done", replied="unreachable", reply_sent=parts, lease_until=None, error=reason[:500]),
            )
            session.execute(
                update(Identity)
                .where(Identity.channel == entry.channel, Identity.external_id == entry.sender)
                .values(unreachable_at=self.clock.now())
            )

        self.db.transaction(work)
        self.signal(entry.id)

    def _update(self, entry: Entry, **values: Any) -> None:
        def work(session: Session) -> None:
            session.execute(
                update(InboxEntry)
                .where(InboxEntry.id == entry.id, InboxEntry.leased_by == entry.token)
                .values(**values)
            )

        self.db.transaction(work)
        self.signal(entry.id)

    # --- waiting for a reply (passive answers) ------------------------------------------------

    def signal(self, entry_id: int) -> None:
        """Wake whoever waits in this process for `entry_id` (the worker calls it after a commit).
        Callable from any thread: a database thread wakes the waiter's loop through
        `call_soon_threadsafe` (an `asyncio.Event` set from another thread would wake nobody)."""
        waiter = self._waiters.get(entry_id)
        if waiter is None:
            return
        loop, event = waiter
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    @reads
    def result(self, channel: str, platform_id: str) -> Result | None:
        with self.db.read() as session:
            row = (
                session.execute(
                    select(InboxEntry.status, InboxEntry.reply, InboxEntry.replied).where(
                        InboxEntry.channel == channel, InboxEntry.platform_id == platform_id
                    )
                )
            ).first()
        return None if row is None else Result(*row)

    @reads
    def status(self, entry_id: int) -> Result | None:
        with self.db.read() as session:
            row = (
                session.execute(
                    select(InboxEntry.status, InboxEntry.reply, InboxEntry.replied).where(InboxEntry.id == entry_id)
                )
            ).first()
        return None if row is None or row.status == "new" else Result(*row)

    async def wait(self, entry_id: int, timeout: float) -> Result | None:
        """The entry's result once it is handled, or None after `timeout` seconds; a local
        worker's `signal` wakes it at once, another process's commit within `POLL` (one query
        for every waiter of the process, so 500 waiting requests cost what one does)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._waiters.setdefault(entry_id, (loop, asyncio.Event()))[1]
        if self._poller is None or self._poller.done() or self._poller.get_loop() is not loop:
            self._poller = loop.create_task(self._poll())
        try:
            while True:
                event.clear()
                found = await self.db.run(self.status, entry_id)
                if found is not None:
                    return found
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    return None
        finally:
            self._waiters.pop(entry_id, None)

    async def _poll(self) -> None:
        """While anyone waits: every POLL seconds, wake the waiters whose entries another
        process finished."""
        while self._waiters:
            await asyncio.sleep(POLL)
            waiting = list(self._waiters)
            try:
                finished = await self.db.run(self._finished, waiting)
            except Exception:  # noqa: BLE001, S112 - a poll that failed: the waiters' own reads will tell; try again next round
                continue
            for entry_id in finished:
                self.signal(entry_id)

    @reads
    def _finished(self, entry_ids: list[int]) -> list[int]:
        with self.db.read() as session:
            return list(
                session.scalars(select(InboxEntry.id).where(InboxEntry.id.in_(entry_ids), InboxEntry.status != "new"))
            )

    def take_reply(self, entry_id: int) -> dict[str, Any] | None:
        now = self.clock.now()

        def work(session: Session) -> dict[str, Any] | None:
            found = session.execute(select(_T.c.channel, _T.c.sender).where(_T.c.id == entry_id)).first()
            if found is None:
                return None
            _lock(session, *found)
            reply = session.scalar(
                update(InboxEntry)
                .where(
                    InboxEntry.id == entry_id,
                    InboxEntry.status == "handled",
                    or_(InboxEntry.lease_until.is_(None), InboxEntry.lease_until < now),
                )
                .values(status="done", replied="passive", lease_until=None, head_seq=None)
                .returning(InboxEntry.reply)
            )
            if reply is not None:
                _promote(session, *found)
            return reply

        return self.db.transaction(work)

    def take_first(self, entry_id: int, parts: int, rest_after: float) -> dict[str, Any] | None:
        """`take_reply` for a reply of `parts` parts of which only the first can be the passive
        answer (WeChat answers a message with one message): the first counts as sent passively and
        a worker sends the rest `rest_after` seconds later, after the passive answer has arrived."""
        if parts <= 1:
            return self.take_reply(entry_id)
        now = self.clock.now()

        def work(session: Session) -> dict[str, Any] | None:
            return session.scalar(
                update(InboxEntry)
                .where(
                    InboxEntry.id == entry_id,
                    InboxEntry.status == "handled",
                    InboxEntry.reply_sent == 0,
                    or_(InboxEntry.lease_until.is_(None), InboxEntry.lease_until < now),
                )
                .values(
                    reply_sent=1, replied="passive", lease_until=None, not_before=now + timedelta(seconds=rest_after)
                )
                .returning(InboxEntry.reply)
            )

        return self.db.transaction(work)

    # --- for operators ------------------------------------------------------------------------

    @reads
    def parked(self, limit: int = 100) -> list[Parked]:
        with self.db.read() as session:
            rows = (
                session.execute(
                    select(
                        InboxEntry.id,
                        InboxEntry.channel,
                        InboxEntry.platform_id,
                        InboxEntry.sender,
                        InboxEntry.attempts,
                        InboxEntry.error,
                        InboxEntry.received_at,
                    )
                    .where(InboxEntry.status == "parked")
                    .order_by(InboxEntry.id)
                    .limit(limit)
                )
            ).all()
        return [Parked(*row) for row in rows]

    def retry_parked(self, entry_id: int) -> bool:
        """An operator sends a parked entry back to be handled (after fixing the cause)."""

        def work(session: Session) -> bool:
            found = session.execute(select(_T.c.channel, _T.c.sender).where(_T.c.id == entry_id)).first()
            if found is None:
                return False
            _lock(session, *found)
            done = session.execute(
                update(InboxEntry)
                .where(
                    InboxEntry.id == entry_id,
                    InboxEntry.status == "parked",
                    InboxEntry.replied.is_distinct_from("pruned"),
                )  # nothing left to handle
                # handled ones kept failing to send: only the reply goes again, the update is not re-handled
                .values(
                    status=case((InboxEntry.reply.is_(None), "new"), else_="handled"),
                    attempts=0,
                    not_before=None,
                    error=None,
                )
            )
            if rowcount(done) != 1:
                return False
            _promote(session, *found)  # next in line when the person has no head; else after it
            return True

        return self.db.transaction(work)

    def prune(self, older_than: timedelta) -> tuple[int, int]:
        """Forget what people wrote once no platform would send it again: finished entries are
        deleted, parked ones keep their row for the operator but lose the message and the reply
        (they can no longer be retried). Returns (deleted, cleared)."""

        def work(session: Session) -> tuple[int, int]:
            before = self.clock.now() - older_than
            gone = session.execute(
                delete(InboxEntry).where(InboxEntry.status == "done", InboxEntry.received_at < before)
            )
            cleared = session.execute(
                update(InboxEntry)
                .where(
                    InboxEntry.status == "parked",
                    InboxEntry.received_at < before,
                    InboxEntry.replied.is_distinct_from("pruned"),
                )
                .values(payload={}, reply=None, replied="pruned")
            )
            return rowcount(gone), rowcount(cleared)

        return self.db.transaction(work)
