"""Every privileged action × every role, and forged button data: allowed or refused as
the rules say, and a refusal changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, update

from bot.services import Services
from models import AuditEntry, InviteCode, Membership, ServiceLog, Transfer
from tests.world import World

ROLES = ("resident1", "volunteer2", "worker1", "otherworker", "admin")


async def _snapshot(services: Services) -> tuple:
    with services.db.uow() as session:
        s = session
        return (
            s.scalar(select(func.count()).select_from(Transfer)),
            tuple(s.scalars(select(ServiceLog.status).order_by(ServiceLog.id))),
            s.scalar(select(func.count()).select_from(ServiceLog)),
            s.scalar(select(func.count()).select_from(InviteCode)),
            tuple((s.execute(select(Membership.role, Membership.confirmed).order_by(Membership.id))).all()),
            s.scalar(select(func.count()).select_from(AuditEntry)),
        )


async def _pending_log(services: Services, world: World) -> int:
    log = await services.run(
        services.hours.submit,
        world.volunteer,
        world.community_id,
        category_id=world.categories["探访"],
        service_date=date(2026, 11, 20),
        minutes=60,
    )
    return log.id


# action → the handles allowed to do it; everyone else is refused and nothing changes.
MATRIX = {
    "/approve H{log}": {"worker1", "admin"},
    "/reject H{log} 不符合要求": {"worker1", "admin"},
    "/record volunteer2 1h 探访": {"worker1", "admin"},
    "/invite": {"worker1", "otherworker", "admin"},  # each worker invites to their own community
    "/confirm V{waiting}": {"worker1", "admin"},  # volunteer3 registered and waits for a worker
    "/appoint volunteer2": {"admin"},
    "/newcommunity 新社区": {"admin"},
}


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
async def test_privileged_actions(services: Services, world: World, chat, who: str, action: str) -> None:
    log_id = await _pending_log(services, world)
    waiting = world.volunteers[2]
    with services.db.uow() as session:
        session.execute(update(Membership).where(Membership.person_id == waiting).values(confirmed=False))
        session.commit()
    if who == "admin":  # admins act in whichever community they switch to
        await chat("admin").say("/community 幸福社区")
    before = await _snapshot(services)
    person = chat(who)
    await person.say(action.format(log=log_id, waiting=waiting))
    keys = person.keys()
    after = await _snapshot(services)
    if who in MATRIX[action]:
        assert not any(k.startswith("error.") for k in keys), keys
        assert after != before  # the action did something
    else:
        assert len(keys) == 1 and keys[0].startswith("error."), keys
        assert after == before


async def test_pending_list_only_for_workers_of_that_community(services: Services, world: World, chat) -> None:
    log_id = await _pending_log(services, world)
    worker = chat("worker1")
    assert f"H{log_id}" in await worker.say("/pending")
    assert worker.keys() == ["pending.page"] and f"/approve H{log_id}" in worker.options()
    other = chat("otherworker")
    assert f"H{log_id}" not in await other.say("/pending")
    for who in ("resident1", "volunteer2"):
        person = chat(who)
        await person.say("/pending")
        assert person.keys() == ["error.need_worker"]


@pytest.mark.parametrize(
    "forged",
    [
        "/approve H999999",
        "/approve H{log} H{log}",
        "xx:1",
        "/reject H{log}",
        "/redeem 1",
        "c99999",
        "/approve Hx",
        "/" + "a" * 60,
    ],
)
async def test_forged_button_data_changes_nothing_for_a_volunteer(
    services: Services, world: World, chat, forged: str
) -> None:
    log_id = await _pending_log(services, world)
    before = await _snapshot(services)
    volunteer = chat("volunteer2")
    await volunteer.press(forged.format(log=log_id))
    said = volunteer.keys()  # the catalogue keys of the replies (a Chat, not a dict)
    assert all(k.startswith("error.") for k in said), said
    assert await _snapshot(services) == before


async def test_other_communitys_worker_pressing_approve_is_refused(services: Services, world: World, chat) -> None:
    log_id = await _pending_log(services, world)
    before = await _snapshot(services)
    other = chat("otherworker")
    await other.press(f"/approve H{log_id}")
    assert other.keys() == ["error.need_worker"]
    await other.press(f"/reject H{log_id} 理由")
    assert other.keys() == ["error.need_worker"]
    assert await _snapshot(services) == before


async def test_own_log_cannot_be_approved_even_by_a_worker(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/log 1h 探访")
    own = (await services.run(services.hours.logs_of, world.worker, world.community_id))[0].id
    before = await _snapshot(services)
    await worker.press(f"/approve H{own}")
    assert worker.keys() == ["error.own_log"]
    assert await _snapshot(services) == before


async def test_step_answer_outside_the_offered_options_is_refused(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/log")
    other_category = (await services.run(services.hours.categories, world.other_community_id))[0].id
    before = await _snapshot(services)
    await volunteer.press(f"c{other_category}")  # a category of another community: not on the list
    assert volunteer.keys() == ["error.old_button"]
    assert volunteer.last is not None and volunteer.last.press_refused
    await volunteer.say("1")  # the step still takes its own options
    assert volunteer.keys() == ["log.ask_date"]
    assert await _snapshot(services) == before
