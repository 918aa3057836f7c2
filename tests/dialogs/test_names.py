"""One name per person, names looked up in the asker's community, four eyes on hours recorded
for a worker, and a limit on guessing pickup codes — through the console chat."""

from __future__ import annotations

from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Notification, ServiceLog
from tests.world import World, person


async def _register(services: Services, world: World, handle: str, real_name: str, phone: str) -> int:
    """Someone whose channel name (`handle`) is not their real name joins and registers."""
    person_id = await person(services, handle)
    code = await services.run(services.people.create_invite, world.worker, world.community_id)
    await services.run(services.people.join, person_id, code)
    await services.run(services.people.register_volunteer, person_id, world.community_id, real_name, phone)
    return person_id


async def _logs_of(services: Services, person_id: int) -> list[ServiceLog]:
    with services.db.read() as session:
        return list(session.scalars(select(ServiceLog).where(ServiceLog.person_id == person_id)))


async def test_the_real_name_is_the_name_shown(services: Services, world: World, chat) -> None:
    qian = await _register(services, world, "newperson", "钱阿姨", "13912345678")
    volunteer = chat("newperson")
    await volunteer.say("/log 1h 助餐 送饭")
    text = await chat("worker1").say("/pending")
    assert "钱阿姨" in text and "newperson" not in text
    await services.run(services.hours.approve, world.worker, (await _logs_of(services, qian))[0].id)
    await volunteer.say("/gift 志愿者1 5 谢谢")
    await volunteer.say("1")
    with services.db.read() as session:
        note = session.scalar(
            select(Notification).where(Notification.person_id == world.volunteer, Notification.key.like("notify.gift%"))
        )
    assert note.params["sender"] == "钱阿姨"


async def test_a_real_name_wins_over_a_handle(services: Services, world: World, chat) -> None:
    member = await _register(services, world, "liming88", "李明", "13912345678")
    newcomer = await person(services, "李明", "李明")  # a console handle that looks like a name
    code = await services.run(services.people.create_invite, world.worker, world.community_id)
    await services.run(services.people.join, newcomer, code)

    worker = chat("worker1")
    text = await worker.say("/record 李明 2h 助餐")
    assert worker.keys() == ["record.done"] and "李明" in text
    assert len(await _logs_of(services, member)) == 1 and await _logs_of(services, newcomer) == []

    admin = chat("admin")
    await admin.say("/community 幸福社区")
    text = await admin.say("/appoint 李明")
    assert admin.keys() == ["appoint.done"] and "幸福社区" in text
    assert (await services.run(services.people.membership, member, world.community_id)).role == "worker"
    assert (await services.run(services.people.membership, newcomer, world.community_id)).role == "resident"
    with services.db.read() as session:
        told = session.scalar(
            select(Notification).where(Notification.person_id == member, Notification.key == "notify.appointed")
        )
    assert told.params == {"community": "幸福社区"}


async def test_lookups_stay_in_the_askers_community(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/record 王社工 1h 助餐")  # the other community's worker, by name
    assert worker.keys() == ["error.no_such_person"]
    await worker.say("/record otherworker 1h 助餐")  # nor by handle
    assert worker.keys() == ["error.no_such_person"]
    await worker.say("/confirm otherworker")
    assert worker.keys() == ["error.no_such_person"]
    assert await _logs_of(services, world.other_worker) == []


async def test_an_ambiguous_name_offers_a_choice(services: Services, world: World, chat) -> None:
    first = await _register(services, world, "wf1", "王芳", "13912345671")
    second = await _register(services, world, "wf2", "王芳", "13912345672")
    worker = chat("worker1")
    text = await worker.say("/record 王芳 1h 助餐 陪买菜")
    assert worker.keys() == ["people.which"] and text.count("王芳") >= 3
    assert worker.options() == [f"/record #{first} 1h 助餐 陪买菜", f"/record #{second} 1h 助餐 陪买菜"]
    assert await _logs_of(services, first) == [] and await _logs_of(services, second) == []
    await worker.say("2")
    assert worker.keys() == ["record.done"]
    [log] = await _logs_of(services, second)
    assert log.note == "陪买菜" and await _logs_of(services, first) == []
    # In a step (the event's volunteers) the refusal lists the numbers to type instead.
    await worker.say("/event")
    for answer in ("1", "1", "1h"):
        await worker.say(answer)
    text = await worker.say("王芳")
    assert worker.keys() == ["people.which_typed", "event.ask_volunteers"] and f"#{first}" in text


async def test_hours_recorded_for_a_worker_wait_for_another_worker(services: Services, world: World, chat) -> None:
    worker1, worker2 = chat("worker1"), chat("worker2")
    await worker1.say("/record worker2 2h 助餐")
    assert worker1.keys() == ["record.waiting"]
    [log] = await _logs_of(services, world.worker2)
    assert log.status == "pending"
    await worker1.say(f"/approve H{log.id}")
    assert worker1.keys() == ["error.own_record"]
    await worker2.say(f"/approve H{log.id}")
    assert worker2.keys() == ["error.own_log"]
    assert (await services.run(services.points.balance, world.worker2, world.community_id)).available == 0
    admin = chat("admin")
    await admin.say("/community 幸福社区")
    await admin.say(f"/approve H{log.id}")
    assert admin.keys() == ["approve.done"]
    assert (await services.run(services.points.balance, world.worker2, world.community_id)).available == 20
    # An event for a volunteer and a worker: the volunteer's hours at once, the worker's wait.
    await worker2.say("/event")
    for answer in ("1", "2", "1h"):
        await worker2.say(answer)
    await worker2.say("volunteer1，worker1")
    await worker2.say("1")
    assert worker2.keys() == ["event.done", "event.waiting"]
    assert [log.status for log in await _logs_of(services, world.worker)] == ["pending"]
    assert [log.status for log in await _logs_of(services, world.volunteer)] == ["approved"]


async def test_pickup_codes_cannot_be_guessed(services: Services, world: World, chat, clock: FixedClock) -> None:
    worker = chat("worker1")
    for attempt in range(1, 10):
        text = await worker.say("/pickup ABCDEF")
        assert worker.keys() == ["error.bad_pickup_code_left"] and f"{10 - attempt} 次" in text
    await worker.say("/pickup ABCDEG")
    assert worker.keys() == ["error.pickup_locked"]
    await worker.say("/pickup ABCDEH")  # locked: not even looked at, nor audited
    assert worker.keys() == ["error.pickup_locked"]
    other = chat("worker2")
    await other.say("/pickup ABCDEF")  # another worker is not held up
    assert other.keys() == ["error.bad_pickup_code_left"]
    with services.db.read() as session:
        audited = list(session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "handover.wrong_code")))
    assert audited == [world.worker] * 10 + [world.worker2]
    clock.advance(minutes=11)
    await worker.say("/pickup ABCDEF")
    assert worker.keys() == ["error.bad_pickup_code_left"]


async def test_assign_asks_which_of_two_of_a_name(services: Services, world: World, chat) -> None:
    first = await _register(services, world, "wf1", "王芳", "13912345671")
    second = await _register(services, world, "wf2", "王芳", "13912345672")
    elder = await services.run(
        services.visits.roster.add_elder,
        world.worker,
        world.community_id,
        {"name": "张桂兰", "birth_year": "1950", "address": "幸福里1栋101", "lives_alone": "否"},
    )
    worker = chat("worker1")
    await worker.say(f"/assign {elder.ref}，王芳、volunteer1")
    assert worker.keys() == ["people.which"]
    assert worker.options() == [f"/assign {elder.ref} #{first} volunteer1", f"/assign {elder.ref} #{second} volunteer1"]
    await worker.say("2")
    assert worker.keys() == ["elders.assigned"]
    assert (await services.run(services.visits.roster.elder, world.worker, elder.id)).volunteers == ("志愿者1", "王芳")
