"""What people type, read the way they mean it: numbers, Chinese phrases and punctuation, skip
words, mistyped categories, greetings, phone numbers, gifts, dates and long notes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.services import Services
from models import DialogState, Membership, Notification, ServiceLog
from tests.world import World


async def _logs(services: Services, person_id: int) -> list[ServiceLog]:
    with services.db.read() as session:
        return list(
            session.scalars(select(ServiceLog).where(ServiceLog.person_id == person_id).order_by(ServiceLog.id))
        )


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [
        ("2", 120),
        ("1.5", 90),
        ("两小时", 120),
        ("半小时", 30),
        ("一个半小时", 90),
        ("两个小时", 120),
        ("三刻钟", 45),
        ("２ｈ", 120),
    ],
)
async def test_durations_as_people_type_them(services: Services, world: World, chat, typed: str, minutes: int) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say(f"/log {typed} 探访")
    assert volunteer.keys() == ["log.submitted"]
    [log] = await _logs(services, world.volunteer)
    assert log.minutes == minutes and log.category_id == world.categories["探访"]


async def test_a_bare_number_too_big_for_hours_is_confirmed_first(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    text = await volunteer.say("/log 90 探访 陪聊")
    assert volunteer.keys() == ["log.duration_guessed", "log.confirm"]
    assert "1.5 小时" in text
    assert await _logs(services, world.volunteer) == []  # nothing saved before the answer
    await volunteer.say("提交")
    assert volunteer.keys() == ["log.submitted"]
    [log] = await _logs(services, world.volunteer)
    assert (log.minutes, log.note) == (90, "陪聊")


async def test_chinese_punctuation_separates_parts(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/log 1h，探访，扫楼道，顺便倒垃圾")
    assert volunteer.keys() == ["log.submitted"]
    [log] = await _logs(services, world.volunteer)
    assert (log.minutes, log.category_id, log.note) == (60, world.categories["探访"], "扫楼道，顺便倒垃圾")
    await volunteer.say("余额。")
    assert volunteer.keys() == ["balance.show"]
    await volunteer.say("／balance！")
    assert volunteer.keys() == ["balance.show"]


async def test_skip_word_skips_the_note(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    for answer in ("/log", "1", "1", "1h"):
        await volunteer.say(answer)
    assert volunteer.keys() == ["log.ask_note"]
    summary = await volunteer.say("跳过")
    assert volunteer.keys() == ["log.confirm"] and "备注：—" in summary
    await volunteer.say("好的")
    [log] = await _logs(services, world.volunteer)
    assert log.note is None and log.minutes == 60


async def test_a_mistyped_category_suggests_the_closest(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    text = await volunteer.say("/log 2h 探坊 陪王奶奶")
    assert volunteer.keys() == ["log.ask_category_guess"] and "探访" in text.splitlines()[0]
    assert volunteer.options()[0] == f"c{world.categories['探访']}"  # the closest comes first
    summary = await volunteer.say("1")
    assert volunteer.keys() == ["log.confirm"] and "陪王奶奶" in summary and "2 小时" in summary
    await volunteer.say("确认")
    [log] = await _logs(services, world.volunteer)
    assert (log.minutes, log.category_id, log.note) == (120, world.categories["探访"], "陪王奶奶")


async def test_a_category_nothing_like_any_lists_them(world: World, chat) -> None:
    worker = chat("worker1")
    text = await worker.say("/record volunteer1 2h 探坊")
    assert worker.keys() == ["error.category_did_you_mean"] and "探访" in text
    text = await worker.say("/record volunteer1 2h 修飞机")
    assert worker.keys() == ["error.category_list"] and "助餐" in text and "纠纷调解" in text


async def test_a_stranger_saying_hello_is_told_how_to_join(services: Services, world: World, chat) -> None:
    stranger = chat("stranger")
    for greeting in ("你好", "hello", "请问怎么加入？"):
        text = await stranger.say(greeting)
        assert stranger.keys() == ["start.welcome_new"] and "邀请码" in text
    with services.db.read() as session:
        assert session.scalar(select(Membership.id).where(Membership.person_id == stranger.last.person_id)) is None


@pytest.mark.parametrize("phone", ["1381234", "12812345678", "138123456789", "+1 415 555 0100"])
async def test_only_mainland_mobile_numbers_register(services: Services, world: World, chat, phone: str) -> None:
    resident = chat("resident1")
    await resident.say("/volunteer")
    await resident.say("居民甲")
    await resident.say(phone)
    assert resident.keys() == ["register.ask_phone_again_typed"]
    await resident.say("+86 139-1234-5678")
    assert resident.keys() == ["register.done"]
    member = await services.run(services.people.membership, world.resident, world.community_id)
    assert member.role == "volunteer"


async def _earn(services: Services, world: World, person_id: int, minutes: int) -> None:
    log = await services.run(
        services.hours.submit,
        person_id,
        world.community_id,
        category_id=world.categories["探访"],
        service_date=date(2026, 11, 19),
        minutes=minutes,
    )
    await services.run(services.hours.approve, world.worker, log.id)


async def test_a_gift_keeps_its_message_and_checks_points_first(services: Services, world: World, chat) -> None:
    await _earn(services, world, world.volunteer, 120)  # 20 points
    giver = chat("volunteer1")
    text = await giver.say("/gift 志愿者2 50 谢谢你")
    assert giver.keys() == ["gift.not_enough"] and "20" in text  # said before any confirmation
    text = await giver.say("/gift 志愿者2 10 谢谢你帮我买菜")
    assert giver.keys() == ["gift.confirm"] and "谢谢你帮我买菜" in text
    await giver.say("1")
    assert giver.keys() == ["gift.done"]
    assert (await services.run(services.points.balance, world.volunteers[1], world.community_id)).available == 10
    with services.db.read() as session:
        note = session.scalar(select(Notification).where(Notification.person_id == world.volunteers[1]))
    assert note.key == "notify.gift_received_message" and note.params["message"] == "谢谢你帮我买菜"


async def test_a_gift_never_names_someone_of_another_community(world: World, chat) -> None:
    giver = chat("volunteer1")
    text = await giver.say("/gift 王社工 5")  # the other community's worker
    assert giver.keys() == ["error.no_such_person"] and "确认" not in text
    await giver.say("/gift otherworker 5")
    assert giver.keys() == ["error.no_such_person"]


async def test_a_date_that_does_not_exist_is_refused(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    text = await volunteer.say("/log 2h 探访 2026-02-30 x")
    assert volunteer.keys() == ["error.no_such_date"] and "2026-02-30" in text
    await volunteer.say("/log 2h 探访 11-31 陪聊")
    assert volunteer.keys() == ["error.no_such_date"]
    assert await _logs(services, world.volunteer) == []
    await volunteer.say("/log")
    await volunteer.say("1")
    await volunteer.say("other")
    await volunteer.say("2026-02-30")
    assert volunteer.keys() == ["error.no_such_date", "log.ask_date"]


async def test_numbers_out_of_range_do_not_crash(world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/reconcile 9999-12")
    assert worker.keys() == ["reconcile.usage"]
    await worker.say("/history 99999999999999999999")
    assert worker.keys() == ["history.empty"]
    await worker.say("/report 9999-12")
    assert worker.keys() == ["error.bad_month"]
    await worker.say("/redeem I1 99999999999999999999")
    assert worker.keys() == ["redeem.usage"]


async def test_a_note_over_the_limit_is_refused_not_cut(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    text = await volunteer.say("/log 2h 探访 " + "很" * 501)
    assert volunteer.keys() == ["error.note_too_long"] and "501" in text and "500" in text
    for answer in ("/log", "1", "1", "1h"):
        await volunteer.say(answer)
    await volunteer.say("很" * 600)
    assert volunteer.keys() == ["error.note_too_long", "log.ask_note"]
    await volunteer.say("陪聊")
    assert volunteer.keys() == ["log.confirm"]
    assert await _logs(services, world.volunteer) == []
    with services.db.read() as session:
        assert session.scalar(select(DialogState.step)) == "confirm"


@pytest.mark.parametrize(
    "line",
    [
        "/additem x -5 1",
        "/additem x 99999999999999999999 1",
        "/additem x ² 1",
        "/additem 肥皂 1.5 3",
        "/additem x 99999999999999999999",
    ],
)
async def test_an_item_price_is_read_strictly(services: Services, world: World, chat, line: str) -> None:
    worker = chat("worker1")
    await worker.say(line)
    assert worker.keys() == ["error.bad_price"]
    assert await services.run(services.shop.catalogue, world.worker, world.community_id) == []
    await worker.say("/additem 5号电池 10 -")
    assert worker.keys() == ["additem.done"]
    [item] = await services.run(services.shop.catalogue, world.worker, world.community_id)
    assert (item.name, item.price, item.stock) == ("5号电池", 10, None)
