"""Points expiry against spending at the same moment: the job opens a window of up to 2 seconds
between deciding how much of a person's points expire and moving them (the test's stand-in for
a slow run), and the person confirms a gift inside it. Whatever the order the database lets
them run in, the outcome is one of the two serial ones, first-in-first-out, and the ledger's
invariants hold; one person's failure leaves the others expired.

volunteer1: 100 points earned in November 2026 (expire 2027-11-01 with /expiry 12), 50 in
October 2027. volunteer3: 40 from November 2026."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.kernel.clock import FixedClock
from bot.services import Services
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, fund
from tests.world import World, make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW = 2.0  # seconds, at most: it closes as soon as the gift is done or waits for a lock


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time().replace(hour=hour), SHANGHAI).astimezone(UTC)


async def _world(services: Services, clock: FixedClock) -> tuple[World, Chat]:
    clock.at = at(date(2026, 11, 20), 12)
    w = await make_world(services)
    chat = Chat(services)
    assert (await chat.say("worker1", "/expiry 12")).keys == ["expiry.set"]
    await fund(services, w, w.volunteer, 100)
    await fund(services, w, w.volunteers[2], 40)
    clock.at = at(date(2027, 10, 10), 12)
    await fund(services, w, w.volunteer, 50)
    assert (await services.run(services.expiry.run, clock.at)).noticed == 2  # 2027-11-01's notice went out
    clock.at = at(date(2027, 11, 1), 1)
    return w, chat


def _open_window(
    services: Services, monkeypatch: pytest.MonkeyPatch, person_id: int, gift_done: threading.Event
) -> tuple[threading.Event, list[str]]:
    """Between the amount decided and the move, for `person_id`: wait until the gift is done or
    blocked on a lock (PostgreSQL), at most WINDOW seconds. SQLite's single writer queues the
    gift behind the whole run, so there the window does not wait."""
    opened, seen = threading.Event(), []
    original = services.ledger.expire_points

    def slow(*args: object, **kwargs: object):
        if kwargs["person_id"] == person_id and not opened.is_set():
            opened.set()
            seen.append(_wait_for_gift(services, gift_done))
        return original(*args, **kwargs)

    monkeypatch.setattr(services.ledger, "expire_points", slow)
    return opened, seen


def _wait_for_gift(services: Services, gift_done: threading.Event) -> str:
    if services.db.sqlite:
        return "queued"
    deadline = time.monotonic() + WINDOW
    with services.db.read_engine.connect() as conn:
        while time.monotonic() < deadline:
            if gift_done.is_set():
                return "done"
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return "blocked"
            time.sleep(0.01)
    return "timeout"


async def _gift_during_run(
    services: Services, chat: Chat, monkeypatch: pytest.MonkeyPatch, w: World, amount: int
) -> tuple[object, list[str], str]:
    """volunteer1 asks to give `amount` to volunteer2 before the run and confirms inside its window."""
    asked = await chat.say("volunteer1", f"/gift 志愿者2 {amount}")
    assert asked.keys == ["gift.confirm"], asked.text
    gift_done = threading.Event()
    opened, seen = _open_window(services, monkeypatch, w.volunteer, gift_done)
    run = asyncio.create_task(services.run(services.expiry.run, services.clock.now()))
    assert await asyncio.to_thread(opened.wait, 10)
    confirmed = asyncio.create_task(chat.say("volunteer1", "1"))
    confirmed.add_done_callback(lambda _: gift_done.set())
    said = await confirmed
    result = await run
    return result, seen, said.keys[0]


async def _expired(services: Services, w: World) -> int:
    return (await account(services, w.community_id, None, "expiry"))[0]


@pytest.mark.parametrize("gift", [50, 150])
async def test_a_gift_during_the_run(
    services: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, gift: int
) -> None:
    w, chat = await _world(services, clock)
    run, seen, gift_reply = await _gift_during_run(services, chat, monkeypatch, w, gift)
    v1 = (await account(services, w.community_id, w.volunteer))[0]
    v2 = (await account(services, w.community_id, w.volunteers[1]))[0]
    v3 = (await account(services, w.community_id, w.volunteers[2]))[0]
    if seen == ["done"]:  # the gift came first: it took the oldest points, the rest of them expire
        assert gift_reply == "gift.done"
        assert (v1, v2) == (150 - gift - max(0, 100 - gift), gift)
    else:  # the expiry came first (the gift waited for it): 100 expired, then the gift if it still fit
        assert seen in (["blocked"], ["queued"]), seen
        given = gift if gift <= 50 else 0
        assert gift_reply == ("gift.done" if given else "error.insufficient_points")
        assert (v1, v2) == (50 - given, given)
    # volunteer3 expired whatever happened to volunteer1, in the same run.
    assert v3 == 0
    assert run.expired_points == await _expired(services, w) == 190 - v1 - v2 - v3
    await ledger_invariants(services, w.community_id)
    # A second run the same day changes nothing.
    assert (await services.run(services.expiry.run, clock.at)).expired_points == 0
    assert await _expired(services, w) == 190 - v1 - v2 - v3


async def test_one_persons_failure_leaves_the_others(
    services: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    w, _ = await _world(services, clock)
    original = services.ledger.expire_points

    def failing(*args: object, **kwargs: object):
        if kwargs["person_id"] == w.volunteer:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(services.ledger, "expire_points", failing)
    with caplog.at_level(logging.ERROR):
        run = await services.run(services.expiry.run, clock.at)
    assert (run.expired_people, run.expired_points) == (1, 40)
    assert any("not expired" in r.getMessage() for r in caplog.records)
    assert await account(services, w.community_id, w.volunteers[2]) == (0, 0)
    assert await account(services, w.community_id, w.volunteer) == (150, 0)
    # The next run (the job runs daily) expires volunteer1's and leaves volunteer3's done.
    monkeypatch.setattr(services.ledger, "expire_points", original)
    clock.at = at(date(2027, 11, 2), 1)
    run = await services.run(services.expiry.run, clock.at)
    assert (run.expired_people, run.expired_points) == (1, 100)
    assert await account(services, w.community_id, w.volunteer) == (50, 0)
    await ledger_invariants(services, w.community_id)
    assert (await services.run(services.expiry.run, clock.at)).expired_points == 0
