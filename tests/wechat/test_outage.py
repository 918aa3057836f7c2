"""WeChat down for a stretch, then back: the channel's circuit breaker pauses sending instead of
spending every notification's tries, probes with growing pauses, and resumes by itself; every
notification arrives once and nothing is parked. Errors about the account (busy, the day's quota)
pause the channel too; an error about one message still parks only that message."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import select

from bot.kernel.settings import Settings
from bot.messages.notify import notify
from bot.runtime import metrics
from bot.services import Services
from models import Notification
from tests.wechat.test_webhook import Served, count, served, services  # noqa: F401 (fixtures)

pytestmark = pytest.mark.db

PEOPLE = [f"oOut{i}" for i in range(4)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The breaker's pauses shortened: first probe after 0.2 s, doubling up to 0.8 s.
    return settings.model_copy(update={"outage_probe_seconds": 0.2, "outage_probe_max_seconds": 0.8})


def _approved(services: Services, openid_people: dict[str, int], first_log: int) -> Any:
    def work(session: Any) -> None:
        for i, person_id in enumerate(openid_people.values()):
            for j in range(3):
                notify(
                    session,
                    services.clock,
                    person_id,
                    "notify.log_approved",
                    log=first_log + 10 * i + j,
                    points=10,
                    available=10,
                    date="2026-11-20",
                    category="探访",
                    hours="1",
                )

    return work


async def _people(served: Served) -> dict[str, int]:
    people = {}
    for openid in PEOPLE:
        await served.say(openid, "/help")  # within the 48-hour window
        person, _ = await served.services.run(served.services.people.identify, "wechat", openid, display_name=openid)
        people[openid] = person.id
    return people


async def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_an_outage_pauses_the_channel_and_everything_arrives_once_after(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    people = await _people(served)
    api = served.api.api
    api.down = 503
    await served.services.db.run(served.services.db.transaction, _approved(served.services, people, 100))
    # Down for a stretch: the first round's sends (one per person, side by side) find it down,
    # then the breaker probes with one message at a time, 0.2 s, 0.4 s, then 0.8 s apart.
    await _until(lambda: api.refused_while_down >= len(PEOPLE) + 4, "the breaker did not keep probing")
    tried = api.refused_while_down
    assert tried <= len(PEOPLE) + 5, f"{tried} calls: the channel was not paused"
    await asyncio.sleep(0.5)
    assert api.refused_while_down - tried <= 1  # one probe per pause, not a try per notification
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 0
    api.down = None  # back

    def texts() -> list[str]:
        with api.lock:
            return [s.content for s in api.sent if s.openid in people]

    await _until(lambda: sum(t.count("已通过") for t in texts()) >= 12, "not everything was delivered after the outage")
    await asyncio.sleep(0.3)  # nothing more comes
    for i in range(len(PEOPLE)):
        for j in range(3):
            assert sum(f"H{100 + 10 * i + j}（" in t for t in texts()) == 1
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 0
    assert await count(served.services, Notification, Notification.delivered_at.is_(None)) == 0
    with served.services.db.read() as session:
        assert set(session.scalars(select(Notification.attempts))) == {0}  # no try was spent on the outage
    changes = [r.getMessage() for r in caplog.records if r.name == "bot.runtime.breaker"]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "bot.runtime.breaker")
    assert changes[0].startswith("wechat: platform down (") and "HTTP 503" in changes[0]
    assert "first probe in 0.2 s" in changes[0]
    assert [c.split("next probe in ")[1] for c in changes[1:4]] == ["0.4 s", "0.8 s", "0.8 s"]
    assert "sending resumed" in changes[-1] and len(changes) >= 5
    state = {
        s: metrics.REGISTRY.get_sample_value("lovebank_breaker_state", {"channel": "wechat", "state": s})
        for s in ("closed", "half-open", "open")
    }
    assert state == {"closed": 1, "half-open": 0, "open": 0}  # /metrics: the breaker is closed again


@pytest.mark.parametrize("code", [-1, 45009])
async def test_busy_or_out_of_quota_pauses_instead_of_parking(served: Served, code: int) -> None:
    people = await _people(served)
    api = served.api.api
    api.fail_next.extend([code] * 3)
    await served.services.db.run(served.services.db.transaction, _approved(served.services, people, 200))

    def delivered() -> int:
        with api.lock:
            return sum(s.content.count("已通过") for s in api.sent)

    await _until(lambda: delivered() >= 12, "not delivered after WeChat answered again")
    assert not api.fail_next
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 0


async def test_an_error_about_one_message_parks_that_message_only(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    people = await _people(served)
    api = served.api.api
    api.fail_next.append(47001)  # a malformed request: this message's own fault
    await served.services.db.run(served.services.db.transaction, _approved(served.services, people, 300))

    def delivered() -> int:
        with api.lock:
            return sum(s.content.count("已通过") for s in api.sent)

    # One person's three notifications go folded in one message (WeChat's budget): that message is
    # refused, so those three are parked; everyone else's arrive.
    await _until(lambda: delivered() >= 9, "the other messages did not go out")
    await _until(lambda: sum("parked" in r.getMessage() for r in caplog.records) >= 3, "no parked line in the log")
    assert await count(served.services, Notification, Notification.parked_at.is_not(None)) == 3
    lines = [r for r in caplog.records if "parked" in r.getMessage()]
    assert len(lines) == 3
    assert all(r.levelno == logging.WARNING and "WeChat error 47001: injected" in r.getMessage() for r in lines)
    assert not [r for r in caplog.records if r.name == "bot.runtime.breaker"]
