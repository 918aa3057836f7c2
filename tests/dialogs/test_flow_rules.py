"""Rules every flow follows, through the dialog engine as the console presents it: numbered lists
stay answerable, a step takes its own options after a wrong answer, /pending pages and decides by
typed id, repeats are asked about, and what people read says what it is about."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from bot.kernel.i18n import render
from bot.services import Services
from models import ServiceLog
from tests.shop_helpers import fund, redemption
from tests.world import World

DAY = date(2026, 11, 20)  # the test clock's today


async def _logs(services: Services, world: World, count: int, person: int | None = None) -> list[int]:
    ids = []
    for i in range(count):
        log = await services.run(
            services.hours.submit,
            person or world.volunteers[i % 3],
            world.community_id,
            category_id=world.categories["探访"],
            service_date=DAY - timedelta(days=i // 3),
            minutes=60,
        )
        ids.append(log.id)
    return ids


async def _status(services: Services, log_id: int) -> str:
    with services.db.read() as session:
        return session.scalar(select(ServiceLog.status).where(ServiceLog.id == log_id))


async def test_a_numbered_list_stays_answerable_until_replaced(services: Services, world: World, chat) -> None:
    h1, h2, h3 = await _logs(services, world, 3)
    worker = chat("worker1")
    await worker.say("/pending")
    assert worker.options()[:6] == [
        f"/approve H{h1}",
        f"/reject H{h1}",
        f"/approve H{h2}",
        f"/reject H{h2}",
        f"/approve H{h3}",
        f"/reject H{h3}",
    ]
    await worker.say("1")
    assert worker.keys() == ["approve.done"] and await _status(services, h1) == "approved"
    # The same list still answers: a reject that asks for a reason, then the next number.
    assert f"H{h2}" in await worker.say("4")
    assert worker.keys() == ["reject.ask_reason"]
    await worker.say("2")  # a reason that happens to be a number is the reason, not an option
    assert (
        worker.keys() == ["reject.done"]
        and (await services.run(services.hours.get, world.worker, h2)).reject_reason == "2"
    )
    await worker.say("5")
    assert worker.keys() == ["approve.done"] and await _status(services, h3) == "approved"
    await worker.say("1")  # an item already decided says so
    assert worker.keys() == ["approve.already"]
    # A new list replaces the old one.
    await worker.say("/pending")
    assert worker.keys() == ["pending.none"]
    await worker.say("/lang")
    await worker.say("/cancel")
    await worker.say("5")
    assert worker.keys() == ["error.not_understood"]


async def test_the_event_confirm_step_takes_its_options_after_a_stray_message(
    services: Services, world: World, chat
) -> None:
    worker = chat("worker1")
    for line in ("/event", "2", "2", "2", "volunteer2 volunteer3"):
        await worker.say(line)
    assert worker.keys() == ["event.confirm"]
    for stray in ("好的吧", "什么意思", "99"):
        await worker.say(stray)
        assert worker.keys() == ["event.ask_confirm", "event.confirm"]
        assert worker.options() == ["yes", "/cancel"]
    assert "已为 2 位志愿者记录活动时长" in await worker.say("提交")  # the button's word works too
    assert worker.keys() == ["event.done"]
    # And by number, after a stray message, in the log flow.
    volunteer = chat("volunteer1")
    for line in ("/log", "1", "1", "2", "跳过", "嗯"):
        await volunteer.say(line)
    assert volunteer.keys() == ["log.confirm"]
    await volunteer.say("1")
    assert volunteer.keys() == ["log.submitted"]


async def test_pending_pages_with_a_true_total_and_approve_all(services: Services, world: World, chat) -> None:
    ids = await _logs(services, world, 12)
    worker = chat("worker1")
    first = await worker.say("/pending")
    assert worker.keys() == ["pending.page"]  # one message for the page
    assert "共 12 项（第 1/3 页）" in first and all(f"H{i}" in first for i in ids[:5]) and f"H{ids[5]}" not in first
    assert "/pending 2" in worker.options() and worker.options()[-1] == "/approve all"
    assert "全部通过（12 条服务记录）" in first
    last = await worker.say("/pending 3")
    assert all(f"H{i}" in last for i in ids[10:]) and "/pending 2" in worker.options()
    await worker.say(str(worker.options().index("/approve all") + 1))
    assert worker.keys() == ["approve.batch_done"]
    assert [await _status(services, i) for i in ids] == ["approved"] * 12


async def test_approve_and_reject_by_typed_id_of_any_kind(services: Services, world: World, chat) -> None:
    await fund(services, world, world.volunteer, 100)
    item = await services.run(services.shop.add_item, world.worker, world.community_id, "大米", 30, 10)
    r1 = (await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)).redemption.id
    r2 = (await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)).redemption.id
    worker = chat("worker1")
    listing = await worker.say("/pending")
    assert f"R{r1}" in listing and f"/approve_order R{r1}" in worker.options()
    assert "取货码" in await worker.say(f"/approve R{r1}")
    assert worker.keys() == ["approve_order.done"] and (await redemption(services, r1)).status == "approved"
    await worker.say(f"/reject r{r2} 暂时缺货")
    assert worker.keys() == ["reject_order.done"] and (await redemption(services, r2)).status == "rejected"
    for bad in ("/approve X5", "/approve R", "/reject Z1 理由"):  # (Q is a service request's prefix)
        await worker.say(bad)
        assert worker.keys()[0] in ("approve.usage", "reject.usage"), bad
    # Several logs at once: one message, no empty lines.
    h1, h2 = await _logs(services, world, 2)
    said = await worker.say(f"/approve H{h1} H{h2}")
    assert worker.keys() == ["approve.batch_done"] and "\n\n" not in said and said == said.strip()
    said = await worker.say(f"/approve H{h1} H999")
    assert worker.keys() == ["approve.batch_done", "approve.batch_refused"] and "H999" in said


async def test_the_same_log_for_the_same_day_asks_before_saving_again(services: Services, world: World, chat) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/log 1h 探访 陪聊")
    [first] = await services.run(services.hours.logs_of, world.volunteer, world.community_id)
    asked = await volunteer.say("/log 1h 探访 陪聊")
    assert volunteer.keys() == ["log.looks_repeated", "log.confirm"] and f"H{first.id}" in asked
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 1
    await volunteer.say("/cancel")
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 1
    await volunteer.say("/log 1h 探访 陪聊")
    await volunteer.say("提交")
    assert volunteer.keys() == ["log.submitted"]
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 2
    # Another duration, or another day, is not a repeat.
    await volunteer.say("/log 2h 探访")
    await volunteer.say("/log 1h 探访 昨天")
    assert volunteer.keys() == ["log.submitted"]
    # Step by step, the summary asks the same.
    for line in ("/log", "1", "1", "2", "跳过"):
        await volunteer.say(line)
    await volunteer.say("1")
    assert volunteer.keys() == ["log.looks_repeated", "log.confirm"]
    await volunteer.say("1")
    assert volunteer.keys() == ["log.submitted"]
    assert len(await services.run(services.hours.logs_of, world.volunteer, world.community_id)) == 5


async def test_mylogs_pages(services: Services, world: World, chat) -> None:
    ids = await _logs(services, world, 12, person=world.volunteer)
    volunteer = chat("volunteer1")
    first = await volunteer.say("/mylogs")
    assert "第 1 页" in first and volunteer.options() == ["/mylogs 2"]
    assert all(f"H{i} " in first for i in ids[2:]) and f"H{ids[1]} " not in first  # newest first
    second = await volunteer.say("1")
    assert "第 2 页" in second and all(f"H{i} " in second for i in ids[:2]) and volunteer.options() == []
    await volunteer.say("/mylogs 3")
    assert volunteer.keys() == ["mylogs.no_more"]


async def test_history_and_notices_say_what_they_are_about(services: Services, world: World, chat) -> None:
    h1, h2 = await _logs(services, world, 2, person=world.volunteer)
    await services.run(services.hours.approve, world.worker, h1)
    await services.run(services.hours.reject, world.worker, h2, "重复了")
    [approved, rejected] = await services.run(services.outbox.take, "console", person_id=world.volunteer)
    volunteer = chat("volunteer1")
    item = await services.run(services.shop.add_item, world.worker, world.community_id, "食用油", 4, 10)
    paid = (await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)).redemption
    code = (await services.run(services.shop.approve, world.worker, paid.id)).redemption.pickup_code
    await services.run(services.shop.pickup, world.worker, world.community_id, code)
    returned = (await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)).redemption
    await services.run(services.shop.reject, world.worker, returned.id, "缺货")
    held = (await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)).redemption

    # The notices name the log: category, date and hours.
    text = render("zh-CN", rejected.text.key, rejected.text.params)
    assert f"H{h2}" in text and "探访" in text and str(DAY) in text and "1 小时" in text and "重复了" in text
    assert "Visit" in render("en", approved.text.key, approved.text.params)

    history = (await volunteer.say("/history")).splitlines()
    assert history[1:] == [
        f"{DAY} 兑换 食用油 ×1（R{held.id}） -4（冻结中）",
        f"{DAY} 兑换 食用油 ×1（R{returned.id}） -4（已退回）",
        f"{DAY} 兑换 食用油 ×1（R{paid.id}） -4（已支付）",
        f"{DAY} 服务 H{h1} 探访（{DAY}，1 小时） +10（已入账）",
    ]


async def test_help_is_short_and_fits_the_person(services: Services, world: World, chat) -> None:
    stranger, volunteer, worker = chat("stranger"), chat("volunteer1"), chat("worker1")
    assert "/start" in await stranger.say("/help")
    short = await volunteer.say("/help")
    assert "/log" in short and "/start" not in short and "/help all" in short
    assert len(short.splitlines()) <= 13
    everything = await volunteer.say("/help all")
    assert len(everything.splitlines()) > len(short.splitlines()) and "/start" not in everything
    assert "/pending" not in everything  # still only what the role may do
    worker_help = await worker.say("/help")
    assert "/pending" in worker_help and "/confirm" in worker_help and len(worker_help.splitlines()) <= 13
    greeting = await volunteer.say("/start")
    assert "欢迎回来" not in greeting and "/log" in greeting


async def test_a_redemption_confirmed_again_says_what_it_became(services: Services, world: World, chat) -> None:
    await fund(services, world, world.volunteer, 100)
    item = await services.run(services.shop.add_item, world.worker, world.community_id, "肥皂", 5, 10)
    volunteer = chat("volunteer1")
    await volunteer.say(f"/redeem I{item.id}")
    await volunteer.say("1")
    await volunteer.press("yes")
    [order] = await services.run(services.shop.orders, world.volunteer, world.community_id)
    assert f"R{order.id}" in await volunteer.press("yes")
    assert volunteer.keys() == ["redeem.already_submitted"]
    assert len(await services.run(services.shop.orders, world.volunteer, world.community_id)) == 1


async def test_another_communitys_worker_learns_nothing_of_a_log(services: Services, world: World, chat) -> None:
    [h] = await _logs(services, world, 1)
    await services.run(services.hours.approve, world.worker, h)
    other = chat("otherworker")
    said = await other.say(f"/reject H{h}")  # without a reason the flow looks the log up first
    assert other.keys() == ["error.need_worker"] and "已通过" not in said and "志愿者" not in said
    assert await _status(services, h) == "approved"


async def test_reject_without_a_reason_asks_only_when_the_service_would_take_it(
    services: Services,
    world: World,
    chat,
) -> None:
    decided, open_ = await _logs(services, world, 2)
    worker = chat("worker1")
    await worker.say(f"/approve H{decided}")
    await worker.say(f"/reject H{decided}")  # decided already: said at once, no reason asked for
    assert worker.keys() == ["error.log_decided"]
    outsider = chat("otherworker")  # a worker of another community
    await outsider.say(f"/reject H{open_}")
    assert outsider.keys() == ["error.need_worker"] and await _status(services, open_) == "pending"
    await worker.say(f"/reject H{open_}")
    assert worker.keys() == ["reject.ask_reason"]
