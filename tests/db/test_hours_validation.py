"""Service hours rules, one test per rule. Every refusal is checked
for its typed error and message key, and for having written nothing at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.kernel.errors import AlreadyDecided, DomainError, InvalidInput, NotAllowed
from bot.services import Services
from models import ServiceLog, Transfer
from tests import world
from tests.world import World, make_world, person

TODAY = date(2026, 11, 20)  # the fixed clock's date in Asia/Shanghai
TABLES = ("service_logs", "transfers", "notifications", "audit_log")


@pytest.fixture
async def w(services: Services) -> World:
    return await make_world(services)


def refused(services: Services, error: type[DomainError], key: str):
    """The block must raise `error` with message key `key` and write nothing to TABLES."""
    return world.refused(services, error, key, TABLES)


async def _submit(
    services: Services,
    w: World,
    *,
    who: int | None = None,
    minutes: int = 60,
    day: date = TODAY,
    category: str = "助洁",
    **extra: object,
):
    return await services.run(
        services.hours.submit,
        who or w.volunteer,
        w.community_id,
        category_id=w.categories[category],
        service_date=day,
        minutes=minutes,
        **extra,
    )


async def _earn_transfers(services: Services, log_id: int) -> int:
    with services.db.uow() as session:
        return session.scalar(
            select(func.count())
            .select_from(Transfer)
            .where(Transfer.kind == "earn", Transfer.ref_type == "log", Transfer.ref_id == log_id)
        )


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [15, 45, 90, 12 * 60])
async def test_durations_in_quarter_hours_from_15_minutes_to_12_hours_are_accepted(
    services: Services, w: World, minutes: int
) -> None:
    log = await _submit(services, w, minutes=minutes)
    assert (log.status, log.minutes, log.points) == ("pending", minutes, minutes * 10 // 60)


@pytest.mark.parametrize("minutes", [1, 10, 20, 50, 725])
async def test_durations_off_the_15_minute_step_are_refused(services: Services, w: World, minutes: int) -> None:
    async with refused(services, InvalidInput, "error.minutes_step"):
        await _submit(services, w, minutes=minutes)


@pytest.mark.parametrize("minutes", [0, -15, 12 * 60 + 15, 24 * 60])
async def test_durations_under_15_minutes_or_over_12_hours_are_refused(
    services: Services, w: World, minutes: int
) -> None:
    async with refused(services, InvalidInput, "error.minutes_range"):
        await _submit(services, w, minutes=minutes)


async def test_points_are_floored_never_rounded_up(services: Services, w: World) -> None:
    # 45 minutes at 10 points an hour is 7.5 points: the volunteer gets 7.
    log = await _submit(services, w, minutes=45)
    assert log.points == 7
    await services.run(services.hours.approve, w.worker, log.id)
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 7


# --- at most 16 hours a person a day --------------------------------------------------------------


async def test_pending_and_approved_hours_count_towards_16_hours_a_day(services: Services, w: World) -> None:
    first = await _submit(services, w, minutes=12 * 60)
    await services.run(services.hours.approve, w.worker, first.id)
    await _submit(services, w, minutes=4 * 60)  # pending: 16 h exactly is still allowed
    async with refused(services, InvalidInput, "error.day_limit"):
        await _submit(services, w, minutes=15)
    # Another day, and another volunteer on the same day, are not affected.
    await _submit(services, w, minutes=15, day=TODAY - timedelta(days=1))
    await _submit(services, w, who=w.volunteers[1], minutes=15)


async def test_rejected_hours_do_not_count_towards_the_day(services: Services, w: World) -> None:
    await _submit(services, w, minutes=12 * 60)
    wrong = await _submit(services, w, minutes=4 * 60)
    await services.run(services.hours.reject, w.worker, wrong.id, "没有签到记录")
    again = await _submit(services, w, minutes=4 * 60)
    assert again.status == "pending"


async def test_hours_recorded_by_a_worker_count_towards_the_day(services: Services, w: World) -> None:
    await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [w.volunteer],
        category_id=w.categories["助餐"],
        service_date=TODAY,
        minutes=12 * 60,
    )
    await _submit(services, w, minutes=4 * 60)
    async with refused(services, InvalidInput, "error.day_limit"):
        await services.run(
            services.hours.record,
            w.worker2,
            w.community_id,
            [w.volunteer],
            category_id=w.categories["助餐"],
            service_date=TODAY,
            minutes=15,
        )


# --- service date -------------------------------------------------------------------------------


async def test_a_service_date_in_the_future_is_refused(services: Services, w: World) -> None:
    async with refused(services, InvalidInput, "error.date_future"):
        await _submit(services, w, day=TODAY + timedelta(days=1))


async def test_service_dates_up_to_31_days_back_are_accepted_and_older_refused(services: Services, w: World) -> None:
    oldest = await _submit(services, w, day=TODAY - timedelta(days=31))
    assert oldest.service_date == date(2026, 10, 20)
    async with refused(services, InvalidInput, "error.date_too_old"):
        await _submit(services, w, day=TODAY - timedelta(days=32))


async def test_today_is_the_communitys_today_not_utcs(services: Services, w: World, clock: FixedClock) -> None:
    # 01:30 on the 21st in Shanghai while UTC is still on the 20th.
    clock.at = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
    log = await _submit(services, w, day=date(2026, 11, 21))
    assert log.service_date == date(2026, 11, 21)
    async with refused(services, InvalidInput, "error.date_future"):
        await _submit(services, w, day=date(2026, 11, 22))
    # The 31-day window moves with the community's date too: 10-21 is now the oldest allowed.
    await _submit(services, w, day=date(2026, 10, 21))
    async with refused(services, InvalidInput, "error.date_too_old"):
        await _submit(services, w, day=date(2026, 10, 20))


async def test_a_community_in_another_time_zone_uses_its_own_date(
    services: Services, w: World, clock: FixedClock
) -> None:
    london = await services.run(
        services.people.create_community, "London Road", actor_id=w.admin, timezone="Europe/London"
    )
    await services.run(services.people.appoint_worker, w.admin, london.id, w.worker)
    code = await services.run(services.people.create_invite, w.worker, london.id)
    await services.run(services.people.join, w.volunteer, code)
    await services.run(services.people.register_volunteer, w.volunteer, london.id, "志愿者1", "13800000000")
    category = (await services.run(services.hours.categories, london.id))[0].id
    clock.at = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # the 21st in Shanghai, the 20th in London
    async with refused(services, InvalidInput, "error.date_future"):
        await services.run(
            services.hours.submit,
            w.volunteer,
            london.id,
            category_id=category,
            service_date=date(2026, 11, 21),
            minutes=60,
        )


# --- who may log --------------------------------------------------------------------------------


async def test_a_category_of_another_community_is_refused(services: Services, w: World) -> None:
    foreign = (await services.run(services.hours.categories, w.other_community_id))[0].id
    async with refused(services, InvalidInput, "error.bad_category"):
        await services.run(
            services.hours.submit, w.volunteer, w.community_id, category_id=foreign, service_date=TODAY, minutes=60
        )


async def test_a_resident_cannot_log_hours(services: Services, w: World) -> None:
    async with refused(services, NotAllowed, "error.need_volunteer"):
        await _submit(services, w, who=w.resident)


async def test_a_non_member_cannot_log_hours(services: Services, w: World) -> None:
    stranger = await person(services, "stranger", "路人")
    async with refused(services, NotAllowed, "error.need_volunteer"):
        await _submit(services, w, who=stranger)


async def test_a_volunteer_of_another_community_cannot_log_hours_here(services: Services, w: World) -> None:
    code = await services.run(services.people.create_invite, w.other_worker, w.other_community_id)
    elsewhere = await person(services, "elsewhere", "外社区志愿者")
    await services.run(services.people.join, elsewhere, code)
    await services.run(
        services.people.register_volunteer, elsewhere, w.other_community_id, "外社区志愿者", "13900000000"
    )
    async with refused(services, NotAllowed, "error.need_volunteer"):
        await _submit(services, w, who=elsewhere)


async def test_a_replayed_submission_creates_nothing_new(services: Services, w: World) -> None:
    first = await _submit(services, w, request_key="tg:update:1001")
    before = await world.table_contents(services, TABLES)
    again = await _submit(services, w, request_key="tg:update:1001")
    assert again == first
    assert await world.table_contents(services, TABLES) == before


# --- deciding -----------------------------------------------------------------------------------


async def test_nobody_approves_their_own_log(services: Services, w: World) -> None:
    own = await _submit(services, w, who=w.worker)
    async with refused(services, NotAllowed, "error.own_log"):
        await services.run(services.hours.approve, w.worker, own.id)
    async with refused(services, NotAllowed, "error.own_log"):
        await services.run(services.hours.reject, w.worker, own.id, "写错了")
    # A colleague may.
    assert (await services.run(services.hours.approve, w.worker2, own.id)).changed


async def test_a_worker_of_another_community_cannot_approve(services: Services, w: World) -> None:
    log = await _submit(services, w)
    async with refused(services, NotAllowed, "error.need_worker"):
        await services.run(services.hours.approve, w.other_worker, log.id)
    assert (await services.run(services.hours.get, w.worker, log.id)).status == "pending"


async def test_a_log_is_shown_only_to_its_volunteer_and_the_workers_of_its_community(
    services: Services, w: World
) -> None:
    log = await _submit(services, w)
    for outsider in (w.other_worker, w.volunteers[1]):  # another community's worker; a neighbour
        async with refused(services, NotAllowed, "error.need_worker"):
            await services.run(services.hours.get, outsider, log.id)
    assert (await services.run(services.hours.get, w.volunteer, log.id)).minutes == 60
    assert (await services.run(services.hours.get, w.worker2, log.id)).status == "pending"


async def test_a_worker_of_another_community_cannot_reject(services: Services, w: World) -> None:
    log = await _submit(services, w)
    async with refused(services, NotAllowed, "error.need_worker"):
        await services.run(services.hours.reject, w.other_worker, log.id, "不认识这个人")
    assert (await services.run(services.hours.get, w.worker, log.id)).status == "pending"


async def test_volunteers_cannot_approve(services: Services, w: World) -> None:
    log = await _submit(services, w)
    async with refused(services, NotAllowed, "error.need_worker"):
        await services.run(services.hours.approve, w.volunteers[1], log.id)


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
async def test_rejecting_needs_a_reason(services: Services, w: World, reason: str) -> None:
    log = await _submit(services, w)
    async with refused(services, InvalidInput, "error.reason_required"):
        await services.run(services.hours.reject, w.worker, log.id, reason)
    assert (await services.run(services.hours.get, w.worker, log.id)).status == "pending"


async def test_a_rejected_log_cannot_be_approved(services: Services, w: World) -> None:
    log = await _submit(services, w)
    rejected = await services.run(services.hours.reject, w.worker, log.id, "时长不符")
    assert (rejected.changed, rejected.log.status, rejected.log.reject_reason) == (True, "rejected", "时长不符")
    async with refused(services, AlreadyDecided, "error.log_decided"):
        await services.run(services.hours.approve, w.worker2, log.id)
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 0


async def test_an_approved_log_cannot_be_rejected(services: Services, w: World) -> None:
    log = await _submit(services, w)
    await services.run(services.hours.approve, w.worker, log.id)
    async with refused(services, AlreadyDecided, "error.log_decided"):
        await services.run(services.hours.reject, w.worker2, log.id, "改主意了")
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == log.points


# --- hours recorded by a worker (代录, events) ---------------------------------------------------


async def test_a_worker_records_hours_for_a_volunteer_without_a_phone(services: Services, w: World) -> None:
    [decision] = await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [w.volunteer],
        category_id=w.categories["助医"],
        service_date=TODAY,
        minutes=120,
        request_key="console:record:1",
    )
    log = decision.log
    assert decision.changed
    assert (log.status, log.recorded_by_worker, log.points) == ("approved", True, 20)
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 20
    assert await _earn_transfers(services, log.id) == 1

    before = await world.table_contents(services, TABLES)
    [again] = await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [w.volunteer],
        category_id=w.categories["助医"],
        service_date=TODAY,
        minutes=120,
        request_key="console:record:1",
    )
    assert (again.changed, again.log.id) == (False, log.id)
    assert await world.table_contents(services, TABLES) == before
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 20


async def test_a_worker_records_an_event_for_several_volunteers(services: Services, w: World) -> None:
    decisions = await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        w.volunteers,
        category_id=w.categories["助乐"],
        service_date=TODAY,
        minutes=180,
        event_name="重阳节敬老活动",
        request_key="console:event:7",
    )
    assert [d.log.person_id for d in decisions] == w.volunteers
    assert all(d.changed and d.log.status == "approved" and d.log.recorded_by_worker for d in decisions)
    for v, d in zip(w.volunteers, decisions, strict=True):
        assert (await services.run(services.points.balance, v, w.community_id)).posted == 30
        assert await _earn_transfers(services, d.log.id) == 1
    with services.db.uow() as session:
        rows = (
            session.execute(
                select(ServiceLog.event_name, ServiceLog.submitted_by_id, ServiceLog.decided_by_id).where(
                    ServiceLog.id.in_([d.log.id for d in decisions])
                )
            )
        ).all()
    assert set(rows) == {("重阳节敬老活动", w.worker, w.worker)}

    before = await world.table_contents(services, TABLES)
    again = await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        w.volunteers,
        category_id=w.categories["助乐"],
        service_date=TODAY,
        minutes=180,
        event_name="重阳节敬老活动",
        request_key="console:event:7",
    )
    assert [d.log.id for d in again] == [d.log.id for d in decisions]
    assert not any(d.changed for d in again)
    assert await world.table_contents(services, TABLES) == before


async def test_an_event_with_one_ineligible_person_records_nobody(services: Services, w: World) -> None:
    async with refused(services, InvalidInput, "error.not_volunteer"):
        await services.run(
            services.hours.record,
            w.worker,
            w.community_id,
            [w.volunteer, w.resident],
            category_id=w.categories["助乐"],
            service_date=TODAY,
            minutes=60,
            event_name="社区清扫",
        )


async def test_a_worker_cannot_record_their_own_hours(services: Services, w: World) -> None:
    async with refused(services, NotAllowed, "error.own_log"):
        await services.run(
            services.hours.record,
            w.worker,
            w.community_id,
            [w.volunteer, w.worker],
            category_id=w.categories["助乐"],
            service_date=TODAY,
            minutes=60,
        )


async def test_only_workers_of_the_community_record_hours(services: Services, w: World) -> None:
    for outsider in (w.other_worker, w.volunteers[1]):
        async with refused(services, NotAllowed, "error.need_worker"):
            await services.run(
                services.hours.record,
                outsider,
                w.community_id,
                [w.volunteer],
                category_id=w.categories["助乐"],
                service_date=TODAY,
                minutes=60,
            )


async def test_recorded_hours_follow_the_same_duration_and_date_rules(services: Services, w: World) -> None:
    record = services.hours.record
    async with refused(services, InvalidInput, "error.minutes_step"):
        await services.run(
            record,
            w.worker,
            w.community_id,
            [w.volunteer],
            category_id=w.categories["助乐"],
            service_date=TODAY,
            minutes=20,
        )
    async with refused(services, InvalidInput, "error.date_future"):
        await services.run(
            record,
            w.worker,
            w.community_id,
            [w.volunteer],
            category_id=w.categories["助乐"],
            service_date=TODAY + timedelta(days=1),
            minutes=60,
        )


async def test_the_day_limit_holds_when_two_submissions_race(services: Services, w: World) -> None:
    # Two devices at once (different request keys): each alone fits, both together would not.
    results = await asyncio.gather(
        *(_submit(services, w, minutes=10 * 60, request_key=f"race:{i}") for i in range(2)),
        return_exceptions=True,
    )
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(refusals) == 1 and isinstance(refusals[0], InvalidInput), results
    assert refusals[0].key == "error.day_limit"
    with services.db.uow() as session:
        logged = session.scalar(select(func.sum(ServiceLog.minutes)).where(ServiceLog.person_id == w.volunteer))
    assert logged == 10 * 60
