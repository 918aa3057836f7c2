"""The workers that move messages: inbox entries to their channel's handler, replies and
notifications to their channel's sender. Channel-free: a channel plugs in by implementing
`Channel` (in `handlers/<channel>/`).

    class Channel(Protocol):
        name: str                                   # "telegram", "wechat": the inbox's channel
        async def handle(self, entry: Entry, handling: Handling) -> None
            # turn the stored update into a dialog turn; call `handling.settle(session, reply)`
            # inside the turn's one transaction (Dialogs.handle(..., settle=..., attach=
            # handling.attach): the files it attaches follow after the commit), or
            # `await handling.finish(reply)` when no dialog turn is needed (an update not for
            # us: reply None). `reply` is the channel's own JSON for what to answer.
        async def send_reply(self, reply: dict, start: int) -> Outcome
            # send a stored reply, skipping its first `start` parts (sent before a retry)
        async def deliver(self, delivery: Delivery) -> Outcome
            # send one notification (bot.messages.outbox.Delivery)
        async def deliver_all(self, deliveries, worker, lease) -> list[tuple[Delivery, Outcome]]
            # optional, instead of `deliver`: all of one address's notifications of a round at
            # once (the channel may claim more of that person's), each with its outcome
        def apology(self, entry: Entry) -> dict | None      # optional: the reply telling the
            # sender their update was set aside after failing (sent once, best effort)

`InboxWorker(services, channels, worker=…, concurrency=…)` claims entries (a lease, renewed
while they run), handles up to `concurrency` of them at once (one person's one at a time: the
inbox never hands out a person's next entry before the last is finished), sends each reply right
after its handling committed, and records failures (backoff, parked after a few tries). An
exception in `handle` never reaches the platform.

`OutboxWorker(services, channels, worker=…)` sends notifications about a second after the
commit that wrote them at the latest: `wake()` after a local commit starts a round at once, and
it polls every `poll` seconds for what other processes wrote.

A sender's `Down` (the platform itself is down) opens the channel's circuit breaker
(`bot.runtime.breaker`, shared by both workers): the channel's notifications and replies wait, untried
and uncounted, while one message probes with growing pauses; the first answer resumes sending.
Whatever is parked is logged at WARNING with its reason.

Both run until `stop()`, which lets what is in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot.kernel import crash, logs
from bot.kernel.later import fill
from bot.messages.delivery import Down, Failed, Held, Outcome, Retry, Sent, short
from bot.messages.inbox import Entry, LeaseLost
from bot.messages.outbox import Delivery
from bot.runtime import metrics
from bot.runtime.breaker import Breakers
from bot.services import Services

log = logging.getLogger(__name__)


def worker_name() -> str:
    """Who holds a lease, for operators reading the tables: host and process id."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def _breakers(services: Services) -> Breakers:
    settings = services.settings
    return Breakers(settings.outage_probe_seconds, settings.outage_probe_max_seconds)


class Channel(Protocol):
    name: str

    async def handle(self, entry: Entry, handling: Handling) -> None: ...

    async def send_reply(self, reply: dict[str, Any], start: int) -> Outcome: ...

    async def deliver(self, delivery: Delivery) -> Outcome: ...


@dataclass
class Handling:
    """Given to `Channel.handle`: how the handling of one entry is finished."""

    services: Services
    entry: Entry
    reply: dict[str, Any] | None = None
    hold: float | None = None
    settled: bool = field(default=False)
    unstored: bool = field(default=False)  # settled by `settle_later`: nothing written yet
    then: Callable[[], None] | None = None  # what `settle_later` leaves to the mark (the dialog state)

    def settle(self, session: Session, reply: dict[str, Any] | None, *, hold: float | None = None) -> None:
        """Inside the transaction that finishes the handling, on the database thread."""
        self.services.inbox.settle(session, self.entry, reply, hold=hold)
        self.reply, self.hold, self.settled = reply, hold, True

    def settle_later(self, reply: dict[str, Any], then: Callable[[], None] | None = None) -> None:
        """A turn that wrote nothing (it only read): its reply is sent first and stored with the
        mark that it went out, with `then` (its dialog state saved), one transaction instead of
        two. A crash before that mark runs the read again, as a crash between sending and marking
        always resent the reply; the person's next update waits for the mark."""
        self.reply, self.hold, self.settled, self.unstored, self.then = reply, None, True, True, then

    async def attach(self, drawn: dict[bytes, bytes | None]) -> None:
        """The turn's files, made after its commit, take their placeholders' places in the stored
        reply (and in the downloads offered for them), in one short transaction. A crash before
        leaves the placeholders: the reply then goes without those files."""
        if self.reply is None:
            return
        filled = fill(self.reply, drawn)
        services, db = self.services, self.services.db

        def work(session: Session) -> None:
            services.inbox.replace_reply(session, self.entry, filled)
            services.downloads.fill(session, drawn)

        await db.run(db.transaction, work)
        self.reply = filled

    async def finish(self, reply: dict[str, Any] | None = None, *, hold: float | None = None) -> None:
        db = self.services.db
        await db.run(db.transaction, lambda session: self.settle(session, reply, hold=hold))


class InboxWorker:
    def __init__(
        self,
        services: Services,
        channels: dict[str, Channel],
        *,
        worker: str | None = None,
        concurrency: int = 1,
        lease: float = 30.0,
        poll: float = 0.5,
        on_handled: Callable[[], None] | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        self.services, self.channels = services, channels
        self.breakers = breakers if breakers is not None else _breakers(services)
        self.worker = worker or worker_name()
        self.concurrency = max(1, concurrency)
        self.lease, self.poll, self.on_handled = lease, poll, on_handled
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: dict[asyncio.Task[None], str] = {}  # running handlings → their lease token
        self._replied: list[tuple[Entry, int]] = []  # replies sent, marked done with the next claim
        self._ready: list[Entry] = []  # leased to this worker as they were stored (`lease_at_store`)
        self._reserved = 0  # stores under way that may lease their update to this worker
        self._live = False  # claiming: running, or draining
        self._look = False  # woken for more than a stored update: claim what is due

    def lease_at_store(self, channel: str) -> tuple[str, float] | None:
        """For a webhook about to store an update of `channel`: this worker's name and lease when
        it has a free hand for it now (the store then leases the update to it, saving a claim),
        else None. Give what the store returned to `stored`."""
        busy = len(self._tasks) + len(self._ready) + self._reserved
        if not self._live or self._stopping or channel not in self.channels or busy >= self.concurrency:
            return None
        self._reserved += 1
        return self.worker, self.lease

    def stored(self, entry: Entry | None) -> None:
        """After a store that `lease_at_store` offered this worker: `entry` leased to it, or None."""
        self._reserved -= 1
        if entry is not None:
            self._ready.append(entry)
            self._wake.set()  # to start it: nothing new to look for in the inbox
        else:
            self.wake()

    def wake(self) -> None:
        self._look = True
        self._wake.set()

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        self._live = True
        try:
            while not self._stopping:
                self._wake.clear()
                ready = self._take_ready()
                self._start(ready)
                if ready and not self._look:
                    claimed = 0  # only updates stored and leased to us woke us: nothing to look for
                else:
                    self._look = False
                    claimed = await self._claim()
                if claimed and len(self._tasks) < self.concurrency:
                    continue  # there may be more waiting
                waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait()), *self._tasks]
                await asyncio.wait(waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
                waits[0].cancel()
        finally:
            self._live = False
            for entry in self._take_ready():  # leased to us as stored: handled before stopping
                await self.process(entry)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._replied:
                self.concurrency = 0  # only mark what was sent
                await self._claim()
            heartbeat.cancel()

    async def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def drain(self) -> int:
        """Handle what is due now, one entry at a time, until nothing is (tests; a process
        that only wants to catch up); returns how many entries were processed."""
        processed = 0
        self._live = True
        while True:
            entries = self._take_ready()
            if not entries:
                replied, self._replied = self._replied, []
                entries = await self.services.run(
                    self.services.inbox.claim, self.worker, 1, self.lease, tuple(self.channels), replied
                )
            if not entries:
                return processed
            for entry in entries:
                await self.process(entry)
                processed += 1

    async def _claim(self) -> int:
        free = self.concurrency - len(self._tasks)
        replied, self._replied = self._replied, []
        if free <= 0 and not replied:
            return 0
        try:
            entries = await self.services.run(
                self.services.inbox.claim, self.worker, free, self.lease, tuple(self.channels), replied
            )
        except Exception:  # the database may be away for a moment; the next round tries again
            log.exception("inbox: claiming failed")
            self._replied = replied + self._replied  # their leases run out if this keeps failing
            return 0
        self._start(entries)
        return len(entries)

    def _take_ready(self) -> list[Entry]:
        ready, self._ready = self._ready, []
        return ready

    def _start(self, entries: list[Entry]) -> None:
        for entry in entries:
            task = asyncio.create_task(self.process(entry))
            self._tasks[task] = entry.token
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self.wake()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                tokens = {*self._tasks.values(), *(e.token for e, _ in self._replied), *(e.token for e in self._ready)}
                await self.services.run(self.services.inbox.renew, sorted(tokens), self.lease)
            except Exception:
                log.exception("inbox: renewing leases failed")

    async def process(self, entry: Entry) -> None:
        """Handle one claimed entry (if not yet handled) and send its reply."""
        inbox, channel = self.services.inbox, self.channels[entry.channel]
        logs.request_id.set(f"in{entry.id}")  # this task's log lines
        try:
            if entry.status == "new":
                handling = Handling(self.services, entry)
                started = time.perf_counter()
                await channel.handle(entry, handling)
                if not handling.settled:
                    raise RuntimeError(f"{entry.channel} handler returned without settling entry {entry.id}")
                metrics.turn_finished(entry.channel, time.perf_counter() - started)
                if handling.unstored:  # a turn that only read: its reply is stored when it went out
                    entry = replace(entry, reply=handling.reply, then=handling.then)
                else:
                    crash.point("turn.committed")  # the turn is whole; its reply is not sent yet
                    inbox.signal(entry.id)
                    if self.on_handled is not None:
                        self.on_handled()  # what the turn wrote to the outbox goes out now
                    if handling.reply is None or handling.hold:
                        return
                    entry = replace(entry, status="handled", reply=handling.reply)
            reply = entry.reply
            assert reply is not None
            breaker = self.breakers[entry.channel]
            if breaker.allowance() == 0:  # the platform is down: the reply waits for the next probe
                entry = await self._stored(entry)
                await self.services.run(inbox.outcome, entry, Retry(max(breaker.seconds_to_probe(), self.poll)))
                return
            try:
                outcome = await channel.send_reply(reply, entry.reply_sent)
            except Exception as exc:  # a sender should not raise; if it does, it is a failure
                log.exception("%s: sending the reply to entry %s raised", entry.channel, entry.id)
                outcome = Failed(short(exc))
            if isinstance(outcome, Down):
                breaker.down(outcome.reason)
                outcome = Retry(max(breaker.seconds_to_probe(), self.poll), outcome.parts)  # not a failure
            else:
                breaker.up()
            if isinstance(outcome, Sent):
                crash.point("reply.sent")  # sent, not yet marked: it goes again after a restart
                self._replied.append((entry, entry.reply_sent + outcome.parts))
                return
            entry = await self._stored(entry)
            if await self.services.run(inbox.outcome, entry, outcome) and isinstance(outcome, Failed):
                log.warning(
                    "inbox: the reply to entry %s (%s from %s) parked: %s",
                    entry.id,
                    entry.channel,
                    entry.sender,
                    outcome.error,
                )
        except LeaseLost as exc:
            log.warning("inbox: %s", exc)
        except Exception as exc:
            log.exception("inbox: entry %s (%s %s) failed", entry.id, entry.channel, entry.platform_id)
            try:
                if await self.services.run(inbox.failed, entry, exc):
                    log.error(
                        "inbox: entry %s parked after %s tries: %s", entry.id, entry.attempts + 1, short(exc, 200)
                    )
                    if self.on_handled is not None:
                        self.on_handled()  # the admins' notice
                    await self._apologise(channel, entry)
            except Exception:
                log.exception("inbox: could not record the failure of entry %s", entry.id)

    async def _stored(self, entry: Entry) -> Entry:
        """A read-only turn's reply that did not go out is stored now, as any turn's is, before
        its outcome is recorded (a retry sends it, not a new turn)."""
        if entry.status != "new" or entry.reply is None:
            return entry
        db, reply, then = self.services.db, entry.reply, entry.then

        def work(session: Session) -> None:
            self.services.inbox.settle(session, entry, reply)
            if then is not None:
                then()

        await db.run(db.transaction, work)
        self.services.inbox.signal(entry.id)
        return replace(entry, status="handled", then=None)

    async def _apologise(self, channel: Channel, entry: Entry) -> None:
        """Tell the person, once, that their message could not be handled (best effort)."""
        apology = getattr(channel, "apology", None)
        reply = apology(entry) if apology is not None else None
        if reply is not None:
            try:
                await channel.send_reply(reply, 0)
            except Exception:
                log.exception("%s: could not tell the sender of entry %s", entry.channel, entry.id)


class OutboxWorker:
    def __init__(
        self,
        services: Services,
        channels: dict[str, Channel],
        *,
        worker: str | None = None,
        poll: float = 1.0,
        lease: float = 30.0,
        batch: int = 50,
        parallel: int = 8,
        gather: float = 0.1,
        breakers: Breakers | None = None,
    ) -> None:
        self.services, self.channels = services, channels
        self.breakers = breakers if breakers is not None else _breakers(services)
        self.worker = worker or worker_name()
        self.poll, self.lease, self.batch, self.gather = poll, lease, batch, gather
        self._parallel = asyncio.Semaphore(parallel)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                busy = await self.round()
            except Exception:
                log.exception("outbox: a round failed")
                busy = 0
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
                # Woken by a local commit: let the wake-ups of the next moments join this round.
                await asyncio.sleep(self.gather)
            except TimeoutError:
                pass

    async def round(self) -> int:
        """Claim and send what is due on every channel once; returns how many were tried."""
        tried = 0
        for name, channel in list(self.channels.items()):  # a channel may join while this round runs
            allowed = self.breakers[name].allowance()  # paused, one probe, or all
            if allowed == 0:
                continue
            deliveries = await self.services.run(
                self.services.outbox.claim, name, self.worker, limit=allowed or self.batch, lease=self.lease
            )
            by_address: dict[str, list[Delivery]] = defaultdict(list)
            for delivery in deliveries:
                by_address[delivery.address].append(delivery)
            # One address's messages in order; different addresses side by side; what became of
            # them stored together once the round's sends are over (one transaction).
            outcomes: list[tuple[Delivery, Outcome]] = []
            await asyncio.gather(*(self._send_in_order(channel, batch, outcomes) for batch in by_address.values()))
            await self._record_all(name, outcomes)
            tried += len(deliveries)
        return tried

    async def _send_in_order(
        self, channel: Channel, deliveries: list[Delivery], outcomes: list[tuple[Delivery, Outcome]]
    ) -> None:
        breaker = self.breakers[channel.name]
        async with self._parallel:
            if getattr(channel, "deliver_all", None) is not None:
                await self._send_planned(channel, deliveries, outcomes)
                return
            for delivery in deliveries:
                if breaker.allowance() == 0:  # another send of this round found the platform down
                    outcome: Outcome = Down(breaker.reason)
                else:
                    try:
                        outcome = await channel.deliver(delivery)
                    except Exception as exc:
                        log.exception("%s: delivering notification %s raised", channel.name, delivery.ids)
                        outcome = Failed(short(exc))
                    if isinstance(outcome, Down):
                        breaker.down(outcome.reason)
                    else:
                        breaker.up()
                self._log(channel.name, delivery, outcome)
                outcomes.append((delivery, outcome))

    async def _send_planned(
        self, channel: Any, deliveries: list[Delivery], outcomes: list[tuple[Delivery, Outcome]]
    ) -> None:
        """A channel that plans what goes to one address together (WeChat: folded into as few
        messages as its budget allows) gets them all at once, may claim more of that person's,
        and says what became of each."""
        breaker = self.breakers[channel.name]
        results: list[tuple[Delivery, Outcome]]
        if breaker.allowance() == 0:  # another send of this round found the platform down
            results = [(delivery, Down(breaker.reason)) for delivery in deliveries]
        else:
            try:
                results = await channel.deliver_all(deliveries, self.worker, self.lease)
            except Exception as exc:
                log.exception("%s: delivering notifications %s raised", channel.name, [d.ids for d in deliveries])
                results = [(delivery, Failed(short(exc))) for delivery in deliveries]
            down = next((o for _, o in results if isinstance(o, Down)), None)
            if down is not None:
                breaker.down(down.reason)
            elif any(isinstance(o, Sent) for _, o in results):  # WeChat took one: it is up (a hold asked nothing)
                breaker.up()
        for delivery, outcome in results:
            self._log(channel.name, delivery, outcome)
            outcomes.append((delivery, outcome))

    def _log(self, channel: str, delivery: Delivery, outcome: Outcome) -> None:
        if isinstance(outcome, Held):  # routine: the platform's budget for the person is spent
            log.info("%s: notification %s to %s held: %s", channel, delivery.ids, delivery.address, outcome.reason)
        elif not isinstance(outcome, (Sent, Down)):
            log.warning("%s: notification %s to %s not sent: %s", channel, delivery.ids, delivery.address, outcome)

    async def _record_all(self, channel: str, outcomes: list[tuple[Delivery, Outcome]]) -> None:
        """What became of a round's notifications, stored (a park logged at WARNING, with its reason)."""
        if not outcomes:
            return
        try:
            parked = await self.services.run(self.services.outbox.record_all, outcomes)
        except Exception:  # the leases run out and the rows go again: at least once
            log.exception("outbox: could not record the outcome of notifications %s", [d.ids for d, _ in outcomes])
            return
        for (delivery, outcome), was_parked in zip(outcomes, parked, strict=True):
            if was_parked:
                log.warning(
                    "%s: notification %s (%s) to %s parked: %s",
                    channel,
                    delivery.ids,
                    delivery.text.key,
                    delivery.address,
                    outcome.error if isinstance(outcome, Failed) else outcome,
                )


class Pipeline:
    """What a `lovebank serve` or `lovebank run` process runs besides taking updates in: the inbox
    and outbox workers, and the scheduler while this process is the leader."""

    def __init__(
        self,
        services: Services,
        channels: dict[str, Channel],
        *,
        concurrency: int,
        lease: float,
        leader_retry: float = 10.0,
    ) -> None:
        from bot.runtime.scheduler import Leader, Scheduler

        self.services, self.channels = services, channels
        worker = worker_name()
        # SQLite has one writer: handling side by side would only queue on its lock.
        concurrency = 1 if services.db.sqlite else concurrency
        self.breakers = _breakers(services)
        self.outbox = OutboxWorker(services, channels, worker=worker, lease=lease, breakers=self.breakers)
        self.inbox = InboxWorker(
            services,
            channels,
            worker=worker,
            concurrency=concurrency,
            lease=lease,
            on_handled=self.outbox.wake,
            breakers=self.breakers,
        )
        self.scheduler = Scheduler(services, services.settings.tz, after_run=self.outbox.wake)
        self.leader = Leader(services.db.url, self.scheduler, retry=leader_retry)
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, channel: Channel) -> None:
        """A channel's handler and sender join the workers (before start(), or later: a channel
        that could not be reached at start joins once it can)."""
        self.channels[channel.name] = channel

    def start(self) -> None:
        self._tasks = [asyncio.create_task(worker.run()) for worker in (self.inbox, self.outbox, self.leader)]

    async def stop(self) -> None:
        """Finish what is in flight, then stop (SIGTERM)."""
        for worker in (self.inbox, self.outbox, self.leader):
            await worker.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
