"""Communities, invites, joining, volunteers, roles and admins, and manual adjustments.
Refusals are checked for their typed error and key, and for having written nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.errors import DomainError, InsufficientPoints, InvalidInput, NotAllowed, NotFound
from bot.kernel.names import CODE_ALPHABET
from bot.kernel.settings import Settings
from bot.services import Services
from models import AuditEntry, Community, InviteCode, Person
from tests import world
from tests.world import World, make_world, person

TODAY = date(2026, 11, 20)
TABLES = (
    "people",
    "identities",
    "memberships",
    "invite_codes",
    "accounts",
    "transfers",
    "audit_log",
    "notifications",
    "service_logs",
)


@pytest.fixture
async def w(services: Services) -> World:
    return await make_world(services)


def refused(services: Services, error: type[DomainError], key: str):
    """The block must raise `error` with message key `key` and write nothing to TABLES."""
    return world.refused(services, error, key, TABLES)


async def _audit(services: Services, action: str) -> list[tuple]:
    with services.db.uow() as session:
        return [
            tuple(r)
            for r in (
                session.execute(
                    select(AuditEntry.actor_id, AuditEntry.community_id, AuditEntry.subject_id, AuditEntry.details)
                    .where(AuditEntry.action == action)
                    .order_by(AuditEntry.id)
                )
            ).all()
        ]


async def _submit(services: Services, w: World, who: int) -> object:
    return await services.run(
        services.hours.submit, who, w.community_id, category_id=w.categories["探访"], service_date=TODAY, minutes=60
    )


# --- invites and joining ------------------------------------------------------------------------


async def test_invite_codes_are_short_and_unambiguous(services: Services, w: World) -> None:
    codes = {await services.run(services.people.create_invite, w.worker, w.community_id) for _ in range(20)}
    assert len(codes) == 20
    assert all(len(c) == 8 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set(CODE_ALPHABET) & set("0O1I")


async def test_only_workers_of_the_community_create_invites(services: Services, w: World) -> None:
    for outsider in (w.volunteer, w.resident, w.other_worker):
        async with refused(services, NotAllowed, "error.need_worker"):
            await services.run(services.people.create_invite, outsider, w.community_id)
    # Admins may act in every community.
    assert await services.run(services.people.create_invite, w.admin, w.community_id)


async def test_an_invite_cannot_make_workers(services: Services, w: World) -> None:
    async with refused(services, InvalidInput, "error.bad_role"):
        await services.run(services.people.create_invite, w.worker, w.community_id, role="worker")


async def test_joining_makes_a_resident_with_an_account_and_is_idempotent(services: Services, w: World) -> None:
    code = await services.run(services.people.create_invite, w.worker, w.community_id, role="volunteer", max_uses=1)
    newcomer = await person(services, "newcomer", "新人")
    first = await services.run(services.people.join, newcomer, f"  {code.lower()} ")  # typed by hand
    assert (first.role, first.confirmed, first.invited_as) == ("resident", True, "volunteer")
    before = await world.table_contents(services, TABLES)
    again = await services.run(services.people.join, newcomer, code)  # a single-use code still lets its owner back
    assert again == first
    assert await world.table_contents(services, TABLES) == before
    balance = await services.run(services.points.balance, newcomer, w.community_id)
    assert (balance.posted, balance.pending) == (0, 0)
    with services.db.uow() as session:
        uses = session.scalar(select(InviteCode.uses).where(InviteCode.code == code))
        acting_in = session.scalar(select(Person.community_id).where(Person.id == newcomer))
    assert (uses, acting_in) == (1, w.community_id)


@pytest.mark.parametrize("code", ["", "NOSUCHXX", "ABC", "' OR 1=1 --"])
async def test_a_bad_invite_code_is_refused(services: Services, w: World, code: str) -> None:
    newcomer = await person(services, "newcomer", "新人")
    async with refused(services, NotFound, "error.bad_invite"):
        await services.run(services.people.join, newcomer, code)
    assert await services.run(services.people.membership, newcomer, w.community_id) is None


async def test_a_used_up_invite_is_refused(services: Services, w: World) -> None:
    code = await services.run(services.people.create_invite, w.worker, w.community_id, max_uses=1)
    await services.run(services.people.join, await person(services, "first", "先来"), code)
    late = await person(services, "late", "后到")
    async with refused(services, NotFound, "error.bad_invite"):
        await services.run(services.people.join, late, code)


async def test_an_expired_invite_is_refused(services: Services, w: World, clock: FixedClock) -> None:
    code = await services.run(services.people.create_invite, w.worker, w.community_id)
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(
            update(InviteCode).where(InviteCode.code == code).values(expires_at=clock.now() + timedelta(days=1))
        ),
    )
    clock.advance(days=2)
    newcomer = await person(services, "newcomer", "新人")
    async with refused(services, NotFound, "error.bad_invite"):
        await services.run(services.people.join, newcomer, code)


async def test_an_invite_never_lowers_a_role(services: Services, w: World) -> None:
    code = await services.run(services.people.create_invite, w.worker2, w.community_id, role="resident")
    member = await services.run(services.people.join, w.worker, code)
    assert member.role == "worker"
    assert (await services.run(services.people.membership, w.volunteer, w.community_id)).role == "volunteer"
    assert (await services.run(services.people.join, w.volunteer, code)).role == "volunteer"


# --- registering volunteers ---------------------------------------------------------------------


async def test_registering_with_real_name_and_phone_makes_a_volunteer(services: Services, w: World) -> None:
    member = await services.run(
        services.people.register_volunteer, w.resident, w.community_id, "  王  小明 ", "+86 138-0013-8000"
    )
    assert (member.role, member.confirmed) == ("volunteer", True)
    with services.db.uow() as session:
        row = (session.execute(select(Person.real_name, Person.phone).where(Person.id == w.resident))).one()
    assert tuple(row) == ("王 小明", "13800138000")  # a mainland mobile number, without +86
    assert (await _submit(services, w, w.resident)).status == "pending"


@pytest.mark.parametrize(
    "phone",
    [
        "",
        "12345",
        "call me",
        "138 0000 000a",
        "+86 138 0000 0000 0000 00",
        "1381234",
        "12812345678",
        "138123456789",
        "+1 415 555 0100",
    ],
)
async def test_a_bad_phone_is_refused(services: Services, w: World, phone: str) -> None:
    async with refused(services, InvalidInput, "error.bad_phone"):
        await services.run(services.people.register_volunteer, w.resident, w.community_id, "王小明", phone)
    assert (await services.run(services.people.membership, w.resident, w.community_id)).role == "resident"


@pytest.mark.parametrize("name", ["", "   ", "/start", "名" * 51])
async def test_a_bad_name_is_refused(services: Services, w: World, name: str) -> None:
    async with refused(services, InvalidInput, "error.bad_name"):
        await services.run(services.people.register_volunteer, w.resident, w.community_id, name, "13800138000")
    assert (await services.run(services.people.membership, w.resident, w.community_id)).role == "resident"


async def test_only_members_register_as_volunteers(services: Services, w: World) -> None:
    stranger = await person(services, "stranger", "路人")
    async with refused(services, NotAllowed, "error.not_member"):
        await services.run(services.people.register_volunteer, stranger, w.community_id, "路人", "13800138000")


async def test_registering_again_does_not_demote_a_worker(services: Services, w: World) -> None:
    member = await services.run(services.people.register_volunteer, w.worker, w.community_id, "张社工", "13800138001")
    assert (member.role, member.confirmed) == ("worker", True)


# --- communities that confirm volunteers ---------------------------------------------------------


async def _confirming_community(services: Services, w: World) -> None:
    # No service sets the flag yet (an admin setting); the test sets it directly.
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(update(Community).where(Community.id == w.community_id).values(confirm_volunteers=True)),
    )


async def test_unconfirmed_volunteers_act_as_residents_until_confirmed(services: Services, w: World) -> None:
    await _confirming_community(services, w)
    member = await services.run(services.people.register_volunteer, w.resident, w.community_id, "王小明", "13800138000")
    assert (member.role, member.confirmed) == ("volunteer", False)
    async with refused(services, NotAllowed, "error.awaiting_confirmation"):  # told she waits, not to register
        await _submit(services, w, w.resident)
    async with refused(services, InvalidInput, "error.not_volunteer"):
        await services.run(
            services.hours.record,
            w.worker,
            w.community_id,
            [w.resident],
            category_id=w.categories["探访"],
            service_date=TODAY,
            minutes=60,
        )
    confirmed = await services.run(services.people.confirm_volunteer, w.worker, w.community_id, w.resident)
    assert (confirmed.role, confirmed.confirmed) == ("volunteer", True)
    assert (await _submit(services, w, w.resident)).status == "pending"
    assert await _audit(services, "volunteer.confirm") == [(w.worker, w.community_id, w.resident, {})]


async def test_only_workers_of_the_community_confirm_volunteers(services: Services, w: World) -> None:
    await _confirming_community(services, w)
    await services.run(services.people.register_volunteer, w.resident, w.community_id, "王小明", "13800138000")
    for outsider in (w.volunteer, w.other_worker):
        async with refused(services, NotAllowed, "error.need_worker"):
            await services.run(services.people.confirm_volunteer, outsider, w.community_id, w.resident)
    assert not (await services.run(services.people.membership, w.resident, w.community_id)).confirmed


async def test_volunteers_already_registered_stay_confirmed(services: Services, w: World) -> None:
    await _confirming_community(services, w)
    assert (await services.run(services.people.membership, w.volunteer, w.community_id)).confirmed
    assert (await _submit(services, w, w.volunteer)).status == "pending"


# --- workers and admins -------------------------------------------------------------------------


async def test_only_admins_appoint_workers(services: Services, w: World) -> None:
    for not_admin in (w.worker, w.volunteer, w.resident):
        async with refused(services, NotAllowed, "error.need_admin"):
            await services.run(services.people.appoint_worker, not_admin, w.community_id, w.volunteers[1])
    assert (await services.run(services.people.membership, w.volunteers[1], w.community_id)).role == "volunteer"

    member = await services.run(services.people.appoint_worker, w.admin, w.community_id, w.volunteers[1])
    assert (member.role, member.confirmed) == ("worker", True)
    assert (w.admin, w.community_id, w.volunteers[1], {}) in await _audit(services, "worker.appoint")
    # The new worker may now decide on a colleague's hours.
    log = await _submit(services, w, w.volunteer)
    assert (await services.run(services.hours.approve, w.volunteers[1], log.id)).changed


async def test_a_worker_appointed_elsewhere_is_no_worker_here(services: Services, w: World) -> None:
    log = await _submit(services, w, w.volunteer)
    async with refused(services, NotAllowed, "error.need_worker"):
        await services.run(services.hours.approve, w.other_worker, log.id)


async def test_admins_come_from_settings(services: Services, database: Database, clock: FixedClock) -> None:
    admin, _ = await services.run(services.people.identify, "console", "admin", display_name="管理员")
    someone, _ = await services.run(services.people.identify, "console", "someone", display_name="某人")
    assert (admin.is_admin, someone.is_admin) == (True, False)
    # Same name on another channel is another account, not the admin.
    impostor, _ = await services.run(services.people.identify, "telegram", "admin", display_name="admin")
    assert not impostor.is_admin

    # A person listed later becomes an admin at their next contact.
    later = Settings(_env_file=None, database_url=database.url, admins=["console:someone"])  # type: ignore[call-arg]
    promoted_services = Services(database, later, clock)
    promoted, _ = await promoted_services.run(
        promoted_services.people.identify, "console", "someone", display_name="某人"
    )
    assert (promoted.id, promoted.is_admin) == (someone.id, True)


async def test_only_admins_create_communities(services: Services, w: World) -> None:
    async with refused(services, NotAllowed, "error.need_admin"):
        await services.run(services.people.create_community, "新社区", actor_id=w.worker)
    async with refused(services, InvalidInput, "error.community_exists"):
        await services.run(services.people.create_community, "幸福社区", actor_id=w.admin)
    created = await services.run(services.people.create_community, "新社区", actor_id=w.admin)
    assert [c.name for c in await services.run(services.hours.categories, created.id)][:3] == ["探访", "助餐", "助洁"]


# --- manual adjustments -------------------------------------------------------------------------


async def test_workers_adjust_with_a_reason_and_it_is_audited(services: Services, w: World) -> None:
    result = await services.run(
        services.points.adjust, w.worker, w.community_id, w.volunteer, 30, "纸质记录补录", key="adj:1"
    )
    assert (result.kind, result.amount, result.replayed) == ("adjust", 30, False)
    down = await services.run(
        services.points.adjust, w.admin, w.community_id, w.volunteer, -10, "重复计分", key="adj:2"
    )
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 20
    assert await _audit(services, "points.adjust") == [
        (w.worker, w.community_id, w.volunteer, {"amount": 30, "reason": "纸质记录补录", "transfer": result.id}),
        (w.admin, w.community_id, w.volunteer, {"amount": -10, "reason": "重复计分", "transfer": down.id}),
    ]
    # A redelivered request neither moves points nor writes a second audit entry.
    before = await world.table_contents(services, TABLES)
    again = await services.run(
        services.points.adjust, w.worker, w.community_id, w.volunteer, 30, "纸质记录补录", key="adj:1"
    )
    assert (again.id, again.replayed) == (result.id, True)
    assert await world.table_contents(services, TABLES) == before
    [history_top, *_], _ = await services.run(services.points.history, w.volunteer, w.community_id)
    assert (history_top.kind, history_top.delta, history_top.reason) == ("adjust", -10, "重复计分")


@pytest.mark.parametrize("reason", ["", "   "])
async def test_an_adjustment_needs_a_reason(services: Services, w: World, reason: str) -> None:
    async with refused(services, InvalidInput, "error.reason_required"):
        await services.run(services.points.adjust, w.worker, w.community_id, w.volunteer, 10, reason, key="adj:x")


async def test_only_workers_and_admins_adjust(services: Services, w: World) -> None:
    for who in (w.volunteer, w.resident, w.other_worker):
        async with refused(services, NotAllowed, "error.need_worker"):
            await services.run(
                services.points.adjust, who, w.community_id, w.volunteers[1], 10, "想多要点", key=f"adj:{who}"
            )


async def test_nobody_adjusts_their_own_points(services: Services, w: World) -> None:
    async with refused(services, NotAllowed, "error.own_adjust"):
        await services.run(services.points.adjust, w.worker, w.community_id, w.worker, 10, "奖励自己", key="adj:own")


async def test_an_adjustment_cannot_overdraw_or_be_zero(services: Services, w: World) -> None:
    await services.run(services.points.adjust, w.worker, w.community_id, w.volunteer, 5, "补录", key="adj:up")
    async with refused(services, InsufficientPoints, "error.insufficient_points"):
        await services.run(services.points.adjust, w.worker, w.community_id, w.volunteer, -6, "扣多了", key="adj:down")
    async with refused(services, InvalidInput, "error.amount_positive"):
        await services.run(services.points.adjust, w.worker, w.community_id, w.volunteer, 0, "无", key="adj:zero")
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).posted == 5


async def test_refused_notices_a_changed_value_not_only_a_new_row(services: Services, w: World) -> None:
    """The "wrote nothing" check compares contents: a refusal that renamed someone is caught."""
    with pytest.raises(AssertionError):
        async with refused(services, InvalidInput, "error.bad_name"):
            with services.db.uow() as session:
                session.execute(update(Person).where(Person.id == w.volunteer).values(display_name="改了"))
                session.commit()
            raise InvalidInput("error.bad_name")
