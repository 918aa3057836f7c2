"""The inbox and the leased outbox as services: duplicates, leases, one person at a time and in
order, failures parked with the admins told, passive replies, and the outbox's outcomes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.messages.delivery import MAX_TRIES, Down, Failed, Held, Retry, Sent, Unreachable
from bot.messages.inbox import LeaseLost, Pace
from bot.messages.notify import notify
from bot.services import Services
from models import Identity, InboxEntry, Notification
from tests.world import make_world

pytestmark = pytest.mark.db


def update(n: int) -> dict:
    return {"update_id": n, "text": f"u{n}"}


async def test_a_second_store_of_the_same_platform_id_is_a_duplicate(services: Services) -> None:
    first = await services.run(services.inbox.store, "telegram", "7", "42", update(7))
    again = await services.run(services.inbox.store, "telegram", "7", "42", {"changed": True})
    other = await services.run(services.inbox.store, "wechat", "7", "o1", update(7))  # another channel's 7
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.id == first.id != other.id
    with services.db.read() as session:
        payload = session.scalar(select(InboxEntry.payload).where(InboxEntry.id == first.id))
    assert payload == update(7)


async def test_one_person_at_a_time_in_order_and_others_alongside(services: Services) -> None:
    for n, sender in ((1, "a"), (2, "a"), (3, "b"), (4, "a"), (5, "c")):
        await services.run(services.inbox.store, "telegram", str(n), sender, update(n))
    batch = await services.run(services.inbox.claim, "w1", 10, 30, ("telegram",))
    assert [(e.platform_id, e.sender) for e in batch] == [("1", "a"), ("3", "b"), ("5", "c")]
    assert await services.run(services.inbox.claim, "w2", 10, 30, ("telegram",)) == []  # a's next waits for a's first
    first = batch[0]
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, first, None))
    [nxt] = await services.run(services.inbox.claim, "w2", 10, 30, ("telegram",))
    assert nxt.platform_id == "2"
    assert await services.run(services.inbox.claim, "w2", 10, 30, ("wechat",)) == []  # only the channels asked for


async def test_a_crashed_claim_comes_back_after_its_lease_and_the_old_holder_cannot_finish(
    services: Services, clock: FixedClock
) -> None:
    await services.run(services.inbox.store, "telegram", "1", "a", update(1))
    [lost] = await services.run(services.inbox.claim, "dead", 1, 30, ("telegram",))
    assert await services.run(services.inbox.claim, "w2", 1, 30, ("telegram",)) == []
    clock.advance(seconds=31)
    [again] = await services.run(services.inbox.claim, "w2", 1, 30, ("telegram",))
    assert again.id == lost.id and again.token != lost.token
    with pytest.raises(LeaseLost):
        await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, lost, {"calls": []}))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, again, {"calls": ["hi"]}))
    await services.run(services.inbox.replied, again, 1)
    assert (await services.run(services.inbox.result, "telegram", "1")).status == "done"


async def test_renewed_leases_are_not_taken_over(services: Services, clock: FixedClock) -> None:
    await services.run(services.inbox.store, "telegram", "1", "a", update(1))
    [entry] = await services.run(services.inbox.claim, "w1", 1, 30, ("telegram",))
    clock.advance(seconds=20)
    await services.run(services.inbox.renew, [entry.token], 30)
    clock.advance(seconds=20)
    assert await services.run(services.inbox.claim, "w2", 1, 30, ("telegram",)) == []


async def test_failures_back_off_then_park_and_tell_the_admins(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.run(services.outbox.take, "console")
    await services.run(services.inbox.store, "telegram", "9", "a", update(9))
    await services.run(services.inbox.store, "telegram", "10", "a", update(10))
    for attempt in range(1, MAX_TRIES + 1):
        [entry] = await services.run(services.inbox.claim, "w", 1, 30, ("telegram",))
        assert entry.platform_id == "9" and entry.attempts == attempt - 1
        parked = await services.run(services.inbox.failed, entry, RuntimeError("boom"))
        assert parked == (attempt == MAX_TRIES)
        if not parked:
            assert await services.run(services.inbox.claim, "w", 1, 30, ("telegram",)) == []  # backing off
            clock.advance(seconds=700)
    [parked_entry] = await services.run(services.inbox.parked)
    assert (parked_entry.platform_id, parked_entry.attempts, parked_entry.error) == ("9", MAX_TRIES, "boom")
    [nxt] = await services.run(services.inbox.claim, "w", 1, 30, ("telegram",))
    assert nxt.platform_id == "10"  # a parked update does not hold the person's next one
    notes = await services.run(services.outbox.take, "console", person_id=w.admin)
    assert [n.text.key for n in notes] == ["inbox.parked"] and notes[0].text.params["entry"] == parked_entry.id
    assert await services.run(services.inbox.retry_parked, parked_entry.id)
    assert (await services.run(services.inbox.result, "telegram", "9")).status == "new"


async def test_a_reply_held_for_a_passive_answer_is_taken_once_or_pushed_later(
    services: Services, clock: FixedClock
) -> None:
    await services.run(services.inbox.store, "wechat", "m1", "o1", update(1))
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, ("wechat",))
    waiting = asyncio.create_task(services.inbox.wait(entry.id, 5))
    await asyncio.sleep(0.01)
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, entry, {"text": "hi"}, hold=4.5))
    services.inbox.signal(entry.id)
    result = await waiting
    assert (result.status, result.reply) == ("handled", {"text": "hi"})
    assert await services.run(services.inbox.claim, "w", 1, 30, ("wechat",)) == []  # held for the passive answer
    assert await services.run(services.inbox.take_reply, entry.id) == {"text": "hi"}
    assert await services.run(services.inbox.take_reply, entry.id) is None
    retried = await services.run(services.inbox.result, "wechat", "m1")
    assert (retried.status, retried.reply, retried.replied) == ("done", {"text": "hi"}, "passive")

    await services.run(services.inbox.store, "wechat", "m2", "o1", update(2))
    [late] = await services.run(services.inbox.claim, "w", 1, 30, ("wechat",))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, late, {"text": "slow"}, hold=4.5))
    assert await services.inbox.wait(late.id, 0.01) is not None
    clock.advance(seconds=5)
    [push] = await services.run(services.inbox.claim, "w", 1, 30, ("wechat",))  # nobody took it: a worker pushes it
    assert push.status == "handled" and push.reply == {"text": "slow"}
    assert await services.run(services.inbox.take_reply, late.id) is None  # leased to the pusher
    assert await services.inbox.wait(999999, 0.1) is None


async def test_a_signal_from_a_database_thread_wakes_the_waiter_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox worker's claim and marks signal from a database thread: the waiting webhook
    wakes then, not at its next poll."""
    monkeypatch.setattr("bot.messages.inbox.POLL", 30.0)  # no poll comes to the rescue
    await services.run(services.inbox.store, "wechat", "m9", "o9", update(9))
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, ("wechat",))
    waiting = asyncio.create_task(services.inbox.wait(entry.id, 10))
    await asyncio.sleep(0.05)

    def settle_and_signal() -> None:  # on the writer thread, as a turn does
        services.db.transaction(lambda s: services.inbox.settle(s, entry, {"text": "hi"}))
        services.inbox.signal(entry.id)

    loop = asyncio.get_running_loop()
    started = loop.time()
    thread = threading.Thread(target=settle_and_signal)  # nothing else wakes the loop
    thread.start()
    result = await asyncio.wait_for(waiting, 10)
    thread.join()
    assert result is not None and result.reply == {"text": "hi"}
    assert loop.time() - started < 2


async def test_reply_outcomes(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    with services.db.read() as session:
        identity = (session.execute(select(Identity).where(Identity.person_id == w.volunteer))).scalar_one()
    channel, sender = identity.channel, identity.external_id
    await services.run(services.inbox.store, channel, "1", sender, update(1))
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, (channel,))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, entry, {"calls": [1, 2, 3]}))
    from dataclasses import replace

    entry = replace(entry, status="handled", reply={"calls": [1, 2, 3]})
    assert not await services.run(services.inbox.outcome, entry, Retry(3, parts=1))
    assert await services.run(services.inbox.claim, "w", 1, 30, (channel,)) == []
    clock.advance(seconds=3)
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, (channel,))
    assert entry.reply_sent == 1  # resumes after what went out
    assert await services.run(services.inbox.outcome, entry, Unreachable("blocked", parts=0))
    with services.db.read() as session:
        assert session.scalar(select(Identity.unreachable_at).where(Identity.id == identity.id)) is not None
    # Their notifications wait; writing to us again makes the person reachable again, once that
    # message has been answered (an answer may carry what waited itself: outbox.take_in).
    await services.db.run(services.db.transaction, lambda s: notify(s, clock, w.volunteer, "lang.set"))
    assert await services.run(services.outbox.claim, channel, "p", person_id=w.volunteer) == []
    clock.advance(seconds=1)
    await services.run(services.inbox.store, channel, "2", sender, update(2))
    assert await services.run(services.outbox.claim, channel, "p", person_id=w.volunteer) == []
    [again] = await services.run(services.inbox.claim, "w", 1, 30, (channel,))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, again, None))
    [note] = await services.run(services.outbox.claim, channel, "p", person_id=w.volunteer)
    assert note.text.key == "lang.set"


async def test_outbox_claims_with_a_lease_and_records_outcomes(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.run(services.outbox.take, "console")
    await services.run(services.people.set_locale, w.volunteer, "en")
    log = await services.run(
        services.hours.submit,
        w.volunteer,
        w.community_id,
        category_id=w.categories["探访"],
        service_date=clock.now().date(),
        minutes=60,
    )
    await services.run(services.outbox.take, "console")  # the workers' notices
    await services.run(services.hours.approve, w.worker, log.id)
    [d] = await services.run(services.outbox.claim, "console", "p1", lease=30)
    assert d.person_id == w.volunteer and d.text.key == "notify.log_approved"
    assert await services.run(services.outbox.claim, "console", "p2", lease=30) == []  # leased: never sent twice
    clock.advance(seconds=31)
    [again] = await services.run(services.outbox.claim, "console", "p2", lease=30)  # p1 died: the lease ran out
    await services.run(services.outbox.record, d, Sent())  # p1's late mark does not count: p2 holds it now
    await services.run(services.outbox.record, again, Retry(10))
    assert await services.run(services.outbox.claim, "console", "p2") == []
    clock.advance(seconds=10)
    for attempt in range(1, MAX_TRIES + 1):
        [d] = await services.run(services.outbox.claim, "console", "p2")
        await services.run(services.outbox.record, d, Failed("500 Internal Server Error"))
        clock.advance(seconds=700)
    assert await services.run(services.outbox.claim, "console", "p2") == []
    [parked] = await services.run(services.outbox.parked)
    assert parked.key == "notify.log_approved" and parked.attempts == MAX_TRIES
    assert await services.run(services.outbox.retry_parked, parked.id)
    [d] = await services.run(services.outbox.claim, "console", "p2")
    await services.run(services.outbox.record, d, Unreachable("Forbidden: bot was blocked by the user"))
    await services.run(
        services.hours.reject,
        w.worker,
        (
            await services.run(
                services.hours.submit,
                w.volunteer,
                w.community_id,
                category_id=w.categories["探访"],
                service_date=clock.now().date(),
                minutes=60,
            )
        ).id,
        "no",
    )
    await services.run(services.outbox.take, "console", person_id=w.worker)
    assert (
        await services.run(services.outbox.claim, "console", "p2", person_id=w.volunteer) == []
    )  # waits while unreachable
    await services.run(services.outbox.take, "console", person_id=w.worker2)
    with services.db.read() as session:
        waiting = (
            session.scalars(
                select(Notification.key).where(
                    Notification.person_id == w.volunteer, Notification.delivered_at.is_(None)
                )
            )
        ).all()
    assert sorted(waiting) == ["notify.log_approved", "notify.log_rejected"]


async def test_handled_updates_are_forgotten_after_a_week(services: Services, clock: FixedClock) -> None:
    from bot import jobs

    await services.run(services.inbox.store, "telegram", "1", "a", update(1))
    await services.run(services.inbox.store, "telegram", "2", "b", update(2))
    [first, _] = await services.run(services.inbox.claim, "w", 2, 30, ("telegram",))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, first, None))
    clock.advance(days=8)
    assert await jobs.load()["inbox-prune"].run(services, clock.now(), {}) == (
        "inbox-prune: 1 handled updates forgotten, 0 parked ones cleared"
    )
    assert await services.run(services.inbox.result, "telegram", "1") is None
    assert await services.run(services.inbox.result, "telegram", "2") is not None  # not handled yet: kept


async def test_pruning_clears_what_people_wrote_and_the_replies_after_the_setting(
    services: Services, clock: FixedClock
) -> None:
    from bot import jobs

    services.settings.inbox_keep_days = 2
    await services.run(services.inbox.store, "wechat", "m1", "o1", {"xml": {"Content": "我的电话 13800000000"}})
    await services.run(services.inbox.store, "wechat", "m2", "o2", {"xml": {"Content": "/report"}})
    first, second = await services.run(services.inbox.claim, "w", 2, 30, ("wechat",))
    await services.db.run(
        services.db.transaction, lambda s: services.inbox.settle(s, first, {"messages": [{"text": "link"}]}, hold=4)
    )
    assert await services.run(services.inbox.take_reply, first.id) == {
        "messages": [{"text": "link"}]
    }  # the passive answer
    entry = second
    while not await services.run(services.inbox.failed, entry, RuntimeError("boom")):
        clock.advance(seconds=700)
        [entry] = await services.run(services.inbox.claim, "w", 1, 30, ("wechat",))
    clock.advance(days=1)
    assert await jobs.load()["inbox-prune"].run(services, clock.now(), {}) == (
        "inbox-prune: 0 handled updates forgotten, 0 parked ones cleared"
    )  # within the 2 days
    clock.advance(days=1, seconds=1)
    assert await jobs.load()["inbox-prune"].run(services, clock.now(), {}) == (
        "inbox-prune: 1 handled updates forgotten, 1 parked ones cleared"
    )
    with services.db.read() as session:
        rows = session.execute(
            select(InboxEntry.platform_id, InboxEntry.payload, InboxEntry.reply, InboxEntry.status, InboxEntry.error)
        ).all()
    assert [tuple(r) for r in rows] == [("m2", {}, None, "parked", "boom")]  # the record, not the message
    [parked] = await services.run(services.inbox.parked)
    assert not await services.run(services.inbox.retry_parked, parked.id)  # nothing left to handle


async def test_a_coalesced_message_takes_every_waiting_row_of_its_kind(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.run(services.outbox.take, "console")
    for n in range(30):
        await services.db.run(
            services.db.transaction,
            lambda s: notify(s, clock, w.worker, "notify.pending_logs", coalesce="pending", count=1),
        )
    [d] = await services.run(services.outbox.claim, "console", "p", limit=5, person_id=w.worker)
    assert d.count == 30 and len(d.ids) == 30  # not only the five that fitted in the batch
    await services.run(services.outbox.record, d, Sent())
    await services.db.run(
        services.db.transaction,
        lambda s: notify(s, clock, w.worker, "notify.pending_logs", coalesce="pending", count=1),
    )
    await services.db.run(services.db.transaction, lambda s: notify(s, clock, w.worker, "lang.set"))
    [other] = await services.run(services.outbox.claim, "console", "p", limit=1, person_id=w.worker)
    assert other.text.key == "lang.set"  # the held-back row does not block what is due


async def test_renewing_a_claim_leaves_a_held_passive_answer_to_the_webhook(services: Services) -> None:
    """Two updates of one claim: the first is settled with a hold (its answer waits for the
    webhook) while the second is still being handled and its lease renewed: the first's answer
    can still be taken."""
    await services.run(services.inbox.store, "wechat", "1", "a", update(1))
    await services.run(services.inbox.store, "wechat", "2", "b", update(2))
    first, second = await services.run(services.inbox.claim, "w", 2, 30, ("wechat",))
    assert first.token == second.token
    await services.db.run(
        services.db.transaction, lambda s: services.inbox.settle(s, first, {"messages": [{"text": "hi"}]}, hold=4)
    )
    await services.run(services.inbox.renew, [second.token], 30)
    assert await services.run(services.inbox.take_reply, first.id) == {"messages": [{"text": "hi"}]}


async def test_a_person_whose_next_update_comes_up_goes_behind_everyone_waiting(services: Services) -> None:
    """Claims take heads in queue order: a member with many queued updates gets one turn, then
    the others, so nobody waits behind a flood (one claim at a time, as on SQLite)."""
    services.inbox.pace = Pace(burst=1000, per_minute=30)  # no pacing here: only the queue order
    for n in range(1, 51):
        await services.run(services.inbox.store, "telegram", str(n), "flood", update(n))
    await services.run(services.inbox.store, "telegram", "b1", "b", update(0))
    await services.run(services.inbox.store, "telegram", "c1", "c", update(0))
    order = []
    for _ in range(5):
        [entry] = await services.run(services.inbox.claim, "w", 1, 30, ("telegram",))
        order.append(entry.platform_id)
        await services.db.run(services.db.transaction, lambda s, e=entry: services.inbox.settle(s, e, None))
    assert order == ["1", "b1", "c1", "2", "3"]


async def test_a_flood_is_paced_in_order_and_the_person_told_once(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    await services.run(services.outbox.take, "console")
    with services.db.read() as session:
        identity = (session.execute(select(Identity).where(Identity.person_id == w.volunteer))).scalar_one()
    services.inbox.pace = Pace(burst=3, per_minute=60)
    for n in range(1, 11):
        await services.run(services.inbox.store, identity.channel, str(n), identity.external_id, update(n))
    handled = []

    async def handle_due() -> None:
        while entries := await services.run(services.inbox.claim, "w", 1, 30, (identity.channel,)):
            handled.append(entries[0].platform_id)
            await services.db.run(services.db.transaction, lambda s, e=entries[0]: services.inbox.settle(s, e, None))

    await handle_due()
    assert handled == ["1", "2", "3"]  # the burst at once, the rest one a second
    clock.advance(seconds=2)
    await handle_due()
    assert handled == ["1", "2", "3", "4", "5"]
    clock.advance(seconds=60)
    await handle_due()
    assert handled == [str(n) for n in range(1, 11)]
    [told] = await services.run(services.outbox.take, "console", person_id=w.volunteer)
    assert told.text.key == "inbox.slow_down"
    # Once the pace is kept again, a new flood is a new one: told again.
    for n in range(11, 16):
        await services.run(services.inbox.store, identity.channel, str(n), identity.external_id, update(n))
    assert [d.text.key for d in await services.run(services.outbox.take, "console", person_id=w.volunteer)] == [
        "inbox.slow_down"
    ]


async def test_stores_and_finishes_racing_never_lose_or_double_a_head(services: Services) -> None:
    """Several writers store one person's updates while workers finish them (on PostgreSQL side
    by side): every update is handled once, one at a time, in the order stored."""
    services.inbox.pace = Pace(burst=1000, per_minute=0)
    stored_ids: list[int] = []
    handled: list[int] = []
    busy: set[int] = set()

    async def writer(w: int) -> None:
        for n in range(40):
            stored_ids.append((await services.run(services.inbox.store, "telegram", f"{w}-{n}", "a", update(n))).id)

    async def worker(name: str) -> None:
        idle = 0
        while idle < 20:
            entries = await services.run(services.inbox.claim, name, 2, 30, ("telegram",))
            if not entries:
                idle += 1 if len(stored_ids) == 160 else 0
                await asyncio.sleep(0.005)
                continue
            idle = 0
            for entry in entries:
                assert not busy  # one of a person's updates at a time: the last one is settled
                busy.add(entry.id)
                handled.append(entry.id)

                def settle(session: Any, e: Any = entry) -> None:
                    services.inbox.settle(session, e, None)
                    busy.discard(e.id)  # before the commit that lets the next one be claimed

                await services.db.run(services.db.transaction, settle)

    await asyncio.gather(*(writer(w) for w in range(4)), worker("w1"), worker("w2"))
    assert sorted(handled) == sorted(stored_ids) and len(handled) == 160
    assert handled == sorted(handled)  # in the order stored


async def test_a_reply_that_met_an_outage_or_was_held_is_tried_again_not_a_crash(
    services: Services, clock: FixedClock
) -> None:
    # The pipeline turns a reply's Down into a Retry, and only notifications are Held; should
    # either reach the inbox all the same, it is a failure with its reason, tried again later.
    from dataclasses import replace

    w = await make_world(services)
    with services.db.read() as session:
        identity = (session.execute(select(Identity).where(Identity.person_id == w.volunteer))).scalar_one()
    await services.run(services.inbox.store, identity.channel, "1", identity.external_id, update(1))
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, (identity.channel,))
    await services.db.run(services.db.transaction, lambda s: services.inbox.settle(s, entry, {"calls": [1, 2]}))
    entry = replace(entry, status="handled", reply={"calls": [1, 2]})
    assert not await services.run(services.inbox.outcome, entry, Down("timed out", parts=1))
    with services.db.read() as session:
        row = session.get_one(InboxEntry, entry.id)
        assert (row.status, row.error, row.attempts, row.reply_sent) == ("handled", "down: timed out", 1, 1)
    clock.advance(minutes=1)
    [entry] = await services.run(services.inbox.claim, "w", 1, 30, (identity.channel,))
    assert not await services.run(services.inbox.outcome, entry, Held("waiting"))
    with services.db.read() as session:
        row = session.get_one(InboxEntry, entry.id)
        assert (row.status, row.error, row.attempts) == ("handled", "held: waiting", 2)
