"""The first whole journey through the dialog engine, as the console presents it."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.services import Services
from models import DialogState, ServiceLog
from tests.world import World


async def test_join_register_log_approve_balance(services: Services, world: World, chat) -> None:
    worker, newcomer = chat("worker1"), chat("newbie")
    text = await worker.say("/invite")
    code = text.split("：")[1].split("（")[0].strip()
    assert "欢迎" in await newcomer.say(f"/start {code}")
    assert newcomer.keys() == ["start.joined", "notice.text", "register.ask_name"]
    asked = await newcomer.say("李新")
    assert newcomer.keys() == ["register.ask_phone_typed"] and "按钮" not in asked  # the console has none
    assert "不对" in await newcomer.say("12ab")  # bad phone, asked again
    assert "登记成功" in await newcomer.say("13912345678")

    # Step by step: category, date, duration, note, confirm — by numbered answers.
    await newcomer.say("/log")
    await newcomer.say("1")  # 探访
    await newcomer.say("1")  # today
    await newcomer.say("3")  # 1.5 h
    summary = await newcomer.say("陪王奶奶聊天")
    assert "时长：1.5 小时" in summary and "积分：15 分" in summary
    await newcomer.say("1")  # submit
    assert newcomer.keys() == ["log.submitted"]
    # One-liner.
    await newcomer.say("/log 2h 助餐 昨天 送午餐")
    assert newcomer.keys() == ["log.submitted"]

    text = await worker.say("/pending")
    assert "李新" in text and worker.options()[-1] == "/approve all"
    await worker.press(worker.options()[-1])  # approve all
    assert worker.keys() == ["approve.batch_done"]
    text = await newcomer.say("/balance")
    assert "可用积分：35" in text and "累计服务：3.5 小时" in text


async def test_english_and_language_switch(world: World, chat) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/lang")
    assert volunteer.options() == ["zh-CN", "en"]
    assert await volunteer.press("en") == "Switched to English."
    assert "Available: 0" in await volunteer.say("/balance")
    assert "Only community workers" in await volunteer.say("/pending")


async def test_reject_asks_for_a_reason_and_tells_the_volunteer(services: Services, world: World, chat) -> None:
    volunteer, worker = chat("volunteer1"), chat("worker1")
    await volunteer.say("/log 1h 探访")
    log_id = (await services.run(services.hours.logs_of, world.volunteer, world.community_id))[0].id
    assert "理由" in await worker.say(f"/reject H{log_id}")
    assert "已驳回" in await worker.say("照片看不清")
    notes = await services.run(services.outbox.take, "console", person_id=world.volunteer)
    assert [n.text.key for n in notes] == ["notify.log_rejected"]
    assert notes[0].text.params["reason"] == "照片看不清"
    assert "已经处理过" in await worker.say(f"/approve H{log_id}")


async def test_cancel_at_every_step_leaves_nothing(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    answers = ["1", "1", "2", "note"]
    for steps in range(len(answers) + 1):
        await volunteer.say("/log")
        for answer in answers[:steps]:
            await volunteer.say(answer)
        assert await volunteer.say("/cancel") == "已取消。"
        assert await volunteer.say("1") != ""  # a number after cancel no longer answers a step
    with services.db.uow() as session:
        assert session.scalar(select(func.count()).select_from(ServiceLog)) == 0
        assert session.scalar(select(func.count()).select_from(DialogState)) == 0


async def test_idle_flow_expires_after_30_minutes(services: Services, world: World, chat, clock: FixedClock) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/log")
    await volunteer.say("1")
    clock.advance(minutes=31)
    await volunteer.say("1")
    assert volunteer.keys() == ["error.not_understood"]


async def test_redelivered_one_liner_logs_once(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    first = await volunteer.say("/log 1h 探访", request_key="update-77")
    again = await volunteer.say("/log 1h 探访", request_key="update-77")
    assert first == again
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 1


async def test_double_confirm_of_a_draft_logs_once(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    for answer in ("/log", "1", "1", "2", "1"):
        await volunteer.say(answer)
    submitted = await volunteer.press("yes")
    [log] = await services.run(services.hours.logs_of, world.volunteer, world.community_id)
    assert f"H{log.id}" in submitted
    # The flow is over: pressing ✅ again says it was submitted, and which log it became.
    assert f"已经提交过了（H{log.id}）" in await volunteer.press("yes")
    assert volunteer.keys() == ["log.already_submitted"]
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 1


async def test_worker_records_for_volunteer_and_event(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    text = await worker.say("/record volunteer2 2h 助餐")
    assert "已为 志愿者2 代录" in text
    await worker.say("/event")
    for answer in ("2", "2", "2"):  # 助餐, yesterday, 1 h
        await worker.say(answer)
    text = await worker.say("volunteer1, volunteer3")
    assert "2 位志愿者" in text
    assert "共发放 20 积分" in await worker.say("1")
    b1 = await services.run(services.points.balance, world.volunteers[0], world.community_id)
    b2 = await services.run(services.points.balance, world.volunteers[1], world.community_id)
    assert (b1.available, b2.available) == (10, 20)
    logs = await services.run(services.hours.logs_of, world.volunteers[1], world.community_id)
    assert logs[0].recorded_by_worker and logs[0].status == "approved"


async def test_not_yet_joined_is_asked_for_an_invite(chat) -> None:
    stranger = chat("stranger")
    assert "邀请码" in await stranger.say("/start")
    assert "邀请码无效" in await stranger.say("NOPE1234")
    assert stranger.keys() == ["error.bad_invite"]
    assert "还没有加入社区" in await stranger.say("/balance")


async def test_help_lists_what_the_role_may_do(world: World, chat) -> None:
    resident_help = await chat("resident1").say("/help")
    worker_help = await chat("worker1").say("/help")
    assert "/pending" not in resident_help and "/pending" in worker_help
    assert "/balance" in resident_help and "/newcommunity" not in worker_help
    assert "/newcommunity" in await chat("admin").say("/help")


async def test_words_in_a_flow_are_answers_not_commands(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    for answer in ("/log", "1", "1", "2"):
        await volunteer.say(answer)
    summary = await volunteer.say("余额 不多了，帮王奶奶买菜")  # a note that starts with an alias
    assert volunteer.keys() == ["log.confirm"] and "余额 不多了" in summary
    assert await volunteer.say("取消") == "已取消。"  # but 取消 still leaves the flow
    assert "可用积分" in await volunteer.say("余额")  # and outside a flow the word is a command


async def test_a_community_can_require_confirming_new_volunteers(services: Services, world: World, chat) -> None:
    worker, newcomer = chat("worker1"), chat("newbie2")
    volunteer = chat("volunteer1")
    await volunteer.say("/confirmnew on")
    assert volunteer.keys() == ["error.need_worker"]
    await worker.say("/confirmnew on")
    code = (await worker.say("/invite")).split("：")[1].split("（")[0].strip()
    await services.run(services.outbox.take, "console", person_id=world.worker)  # nothing old in the way
    for line in (f"/start {code}", "钱阿姨", "13800001111"):
        await newcomer.say(line)
    assert newcomer.keys() == ["register.awaiting_confirmation"]

    # She is told she waits for a worker, not asked to register again.
    assert "等社区工作者确认" in await newcomer.say("/log 1h 助餐 送饭")
    assert newcomer.keys() == ["error.awaiting_confirmation"]
    assert "等社区工作者确认" in await newcomer.say("/help")
    # The workers hear that someone waits, and /pending lists her with a confirm button.
    notes = await services.run(services.outbox.take, "console", person_id=world.worker)
    assert [(n.text.key, n.text.params["name"]) for n in notes] == [("notify.volunteer_waiting", "钱阿姨")]
    listing = await worker.say("/pending")
    assert "钱阿姨" in listing and "13800001111" in listing
    [confirm] = [o for o in worker.options() if o.startswith("/confirm V")]
    await worker.press(confirm)
    assert worker.keys() == ["confirm.done"]
    assert "钱阿姨" not in await worker.say("/pending")  # nobody waits any more

    # She is told, and may log now.
    [told] = await services.run(services.outbox.take, "console", person_id=await _person(services, "newbie2"))
    assert told.text.key == "notify.volunteer_confirmed"
    await newcomer.say("/log 1h 探访")
    assert newcomer.keys() == ["log.submitted"]
    # Confirming again changes nothing; a member who never registered cannot be confirmed.
    await worker.say(confirm)
    assert worker.keys() == ["confirm.done"]
    assert await services.run(services.outbox.take, "console", person_id=await _person(services, "newbie2")) == []
    await worker.say("/confirm resident1")
    assert worker.keys() == ["error.not_registered"]


async def _person(services: Services, handle: str) -> int:
    person, _ = await services.run(services.people.identify, "console", handle, display_name=handle)  # already there
    return person.id
