"""Points expiry over a simulated four-year calendar: the daily job runs every day at 01:00
Shanghai time on a controllable clock (twice on some days), while one volunteer earns, spends,
holds and gets a hold back. The oracle below was worked out by hand from the rules: lots by the
month earned, spending takes the oldest first, held points never expire, the notice comes 30
days before, a rerun changes nothing.

With /expiry 36, volunteer1's lots and what happens to them:
  A 100 earned 2026-12-10  → expires 2029-12-01
  B  50 earned 2027-03-05  → expires 2030-03-01
  C  40 earned 2028-01-15  → expires 2031-01-01 (after the calendar)
  2027-06-20 gives 30 away: taken from A (oldest first), A has 70 left.
  2029-11-05 60 go on hold (a redemption), taken from A first: A has 10 free.
  2029-11-01 notice for 2029-12-01: at most 70 (100 − 30; nothing held yet).
  2029-12-01 expires 10 (held points never expire).
  2029-12-02 notice for 2030-01-01: none free, 60 on hold that expire then if released (A's
             100 − 30 − 10): told apart, as /balance shows held points apart.
  2029-12-10 the hold is voided: A's 60 are free again, and past their date.
  2030-01-01 expires 60: the rest of A, announced on 2029-12-02.
  2030-01-30 notice for 2030-03-01: 50 (B).
  2030-03-01 expires 50.
  At the end: 40 left, "40 分将于 2031-01-01 到期".
volunteer2's 30, received as a gift on 2027-06-20, are a lot of theirs: expired on 2030-06-01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.jobs import load as load_jobs
from bot.kernel.clock import FixedClock, Month
from bot.reports.service import _flows, ledger_summary
from bot.services import Services
from models import Notification, Transfer
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account
from tests.world import make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


async def test_four_years_of_expiry(services: Services, clock: FixedClock) -> None:
    clock.at = at(date(2026, 11, 20))
    w = await make_world(services)
    chat = Chat(services)
    assert (await chat.say("worker1", "/expiry 36")).keys == ["expiry.set"]
    assert (await chat.say("volunteer1", "/expiry 12")).keys == ["error.need_worker"]
    ledger, c, v = services.ledger, w.community_id, w.volunteer
    hold_id: list[int] = []

    async def earn(amount: int, key: str) -> None:
        await services.db.run(
            services.db.transaction, lambda s: ledger.earn(s, community_id=c, person_id=v, amount=amount, key=key)
        )

    async def hold() -> None:
        hold_id.append(
            (
                await services.db.run(
                    services.db.transaction,
                    lambda s: ledger.hold(s, community_id=c, person_id=v, amount=60, key="hold-1"),
                )
            ).id
        )

    events = {
        date(2026, 12, 10): lambda: earn(100, "lot-a"),
        date(2027, 3, 5): lambda: earn(50, "lot-b"),
        date(2027, 6, 20): lambda: services.run(services.points.gift, v, c, w.volunteers[1], 30, "gift-1"),
        date(2028, 1, 15): lambda: earn(40, "lot-c"),
        date(2029, 11, 5): hold,
        date(2029, 12, 10): lambda: services.db.run(
            services.db.transaction, lambda s: ledger.void(s, pending_id=hold_id[0], key="void-1")
        ),
    }
    job = load_jobs()["expire-points"]
    day = date(2026, 12, 1)
    while day <= date(2030, 11, 30):
        clock.at = at(day, 1)
        await job.run(services, clock.at, {})
        if day.day in (1, 2):  # a rerun the same day (a restart, a second process) changes nothing
            await job.run(services, clock.at + timedelta(minutes=5), {})
        if day in events:
            clock.at = at(day)
            await events[day]()
        day += timedelta(days=1)

    with services.db.uow() as session:
        expired = (
            session.execute(
                select(Transfer.amount, Transfer.created_at, Transfer.idempotency_key)
                .where(Transfer.kind == "expire_points")
                .order_by(Transfer.id)
            )
        ).all()
        notices = (
            session.execute(
                select(Notification.key, Notification.params, Notification.created_at)
                .where(Notification.person_id == v, Notification.key.like("expiry.%"))
                .order_by(Notification.id)
            )
        ).all()
    assert [(e.amount, e.created_at.astimezone(SHANGHAI).date(), e.idempotency_key) for e in expired] == [
        (10, date(2029, 12, 1), f"expire:{c}:{v}:2029-12"),
        (60, date(2030, 1, 1), f"expire:{c}:{v}:2030-01"),
        (50, date(2030, 3, 1), f"expire:{c}:{v}:2030-03"),
        (30, date(2030, 6, 1), f"expire:{c}:{w.volunteers[1]}:2030-06"),
    ]
    # What expires if nothing changes, and what is on hold: together what may expire at most.
    soon = [
        (
            n.params.get("amount", 0) + n.params.get("held", 0),
            n.params["date"],
            n.created_at.astimezone(SHANGHAI).date(),
        )
        for n in notices
        if n.key.startswith("expiry.notify.soon")
    ]
    assert [n.key for n in notices if n.key.startswith("expiry.notify.soon")] == [
        "expiry.notify.soon",
        "expiry.notify.soon_held_only",
        "expiry.notify.soon",
    ]
    assert soon == [
        (70, "2029-12-01", date(2029, 11, 1)),
        (60, "2030-01-01", date(2029, 12, 2)),
        (50, "2030-03-01", date(2030, 1, 30)),
    ]
    for amount, expires_on, told_on in soon:  # every notice 30 days before its date
        assert date.fromisoformat(expires_on) - told_on == timedelta(days=30)
    assert [n.params["amount"] for n in notices if n.key == "expiry.notify.expired"] == [10, 60, 50]
    # Nothing expired that was not announced first, and never more than announced.
    assert all(e.amount <= a for e, (a, _, _) in zip(expired[:3], soon, strict=True))

    assert await account(services, c, v) == (40, 0)
    assert await account(services, c, None, "expiry") == (150, 0)
    assert await account(services, c, w.volunteers[1]) == (0, 0)
    await ledger_invariants(services, c)
    # The report's ledger sheet shows what expired each month, and still balances.
    for (year, month), amount in {(2029, 12): 10, (2030, 1): 60, (2030, 2): 0, (2030, 3): 50, (2030, 6): 30}.items():
        with services.db.uow() as session:
            summary = ledger_summary(*_flows(session, c, Month(year, month, "Asia/Shanghai")))
        assert (summary.expired, summary.difference) == (amount, 0), (year, month)
    said = await chat.say("volunteer1", "/balance")
    assert "可用积分：40" in said.text and "40 分将于 2031-01-01 到期" in said.text
    assert (await chat.say("volunteer2", "/balance")).keys == ["balance.show"]  # nothing left to expire


async def test_off_by_default_and_switching_off(services: Services, clock: FixedClock) -> None:
    w = await make_world(services)
    chat = Chat(services)
    assert (await chat.say("worker1", "/expiry")).keys == ["expiry.show_off"]
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(s, community_id=w.community_id, person_id=w.volunteer, amount=30, key="old"),
    )
    assert (await chat.say("volunteer1", "/balance")).keys == ["balance.show"]  # no expiry line
    assert (await chat.say("worker1", "/expiry 0x")).keys == ["expiry.usage"]
    assert (await chat.say("worker1", "/expiry 500")).keys == ["error.bad_expiry_months"]
    await chat.say("worker1", "/expiry 1")
    assert (await chat.say("worker1", "/expiry")).keys == ["expiry.show"]
    assert (await chat.say("volunteer1", "/balance")).keys == ["balance.show", "expiry.balance_line"]
    assert (await chat.say("worker1", "/expiry off")).keys == ["expiry.set_off"]
    job = load_jobs()["expire-points"]
    clock.at += timedelta(days=400)
    assert "0 point(s)" in await job.run(services, clock.at, {})
    assert (await chat.say("volunteer1", "/balance")).keys == ["balance.show"]
