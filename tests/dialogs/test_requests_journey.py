"""Service requests through the dialog engine, as the console presents them: every path (own
points, the pool, the community), withdraw, expiry and a dispute, step by step and in one line."""

from __future__ import annotations

from sqlalchemy import select

from bot import jobs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import ServiceRequest
from tests.shop_helpers import account, fund
from tests.world import World


async def test_own_points_step_by_step_taken_done_and_accepted(services: Services, world: World, chat) -> None:
    await fund(services, world, world.resident, 50)
    elder, helper, other = chat("resident1"), chat("volunteer1"), chat("volunteer2")
    assert "需要什么服务" in await elder.say("/request")
    await elder.press(f"c{world.categories['助洁']}")
    assert elder.keys() == ["request.ask_date"]
    await elder.press("tomorrow")
    await elder.press("morning")
    await elder.say("2h")
    assert "说明" in await elder.say("1")  # own points, the first option
    assert "地址" in await elder.say("打扫厨房")
    text = await elder.say("3栋501")
    assert "服务：助洁" in text and "时间：2026-11-21 上午" in text and "自付 20 分" in text and "地址：3栋501" in text
    assert "已冻结 20 分" in await elder.press("yes")
    assert await account(services, world.community_id, world.resident) == (50, 20)

    board = await helper.say("/requests")
    assert "Q1 助洁 · 11-21 上午 · 2 小时 · 居民甲 · 自付 20 分 · 打扫厨房" in board and "3栋501" not in board
    assert helper.options() == ["/take Q1"]
    taken = await helper.press("/take Q1")
    assert "您接下了 Q1" in taken and "3栋501" in taken  # the taker sees the address
    assert "已经有人接了" in await other.say("/take Q1")  # the second taker is refused cleanly
    notes = await services.run(services.outbox.take, "console", person_id=world.resident)
    assert [n.text.key for n in notes] == ["requests.notify.taken"]

    await helper.say("/done Q1")  # no duration: asked for it
    assert helper.keys() == ["done.ask_duration"]
    assert "1.5 小时" in await helper.say("1.5h")
    await elder.say("/myrequests")
    assert elder.options() == ["/accept Q1", "/dispute Q1"]
    assert "已支付 15 分" in await elder.press("/accept Q1")
    assert "可用积分：15" in await helper.say("/balance")
    assert "可用积分：35" in await elder.say("/balance")
    assert "积分换服务" in await helper.say("/history")
    assert "已经确认过" in await elder.say("/accept Q1")


async def test_pool_in_one_line_granted_by_a_worker(services: Services, world: World, chat) -> None:
    await fund(services, world, world.volunteers[2], 100)
    await services.run(services.points.donate, world.volunteers[2], world.community_id, 100, "donate:journey")
    elder, helper, worker = chat("resident1"), chat("volunteer1"), chat("worker1")
    assert "等待社区工作者批准" in await elder.say("/request 助洁 2h 11-22 上午 积分池 擦窗户")
    assert "现在没有待接的求助" in await helper.say("/requests")
    text = await worker.say("/pending")
    assert "积分池申请：Q1 助洁" in text and "/approve Q1" in worker.options()
    assert "冻结 20 分" in await worker.press("/approve Q1")  # /grant Q1 says the same
    await helper.say("/take Q1")
    await helper.say("/done Q1 2h")
    assert "已支付 20 分" in await elder.say("/accept Q1")
    assert await account(services, world.community_id, None, "pool") == (80, 0)
    assert "可用积分：20" in await helper.say("/balance")


async def test_community_paid_becomes_a_log_for_the_worker(services: Services, world: World, chat) -> None:
    elder, helper, worker = chat("resident1"), chat("volunteer1"), chat("worker1")
    assert "由社区按服务时长计分" in await elder.say("/request 助医 3h 11-21 下午 社区 陪去医院")
    await helper.say("/take Q1")
    await helper.say("/done Q1 2.5h")
    assert "交社区工作者审核" in await elder.say("/accept Q1")
    text = await worker.say("/pending")
    assert "志愿者1" in text and "/approve H1" in worker.options()
    await worker.press("/approve H1")
    assert "可用积分：25" in await helper.say("/balance")
    assert "累计服务：2.5 小时" in await helper.say("/balance")


async def test_withdraw_reopens_for_another_volunteer(services: Services, world: World, chat) -> None:
    await fund(services, world, world.resident, 50)
    elder, first, second = chat("resident1"), chat("volunteer1"), chat("volunteer2")
    await elder.say("/request 助洁 1h 11-23")
    await first.say("/take Q1")
    assert "重新开放" in await first.say("/withdraw Q1")
    notes = await services.run(services.outbox.take, "console", person_id=world.resident)
    assert [n.text.key for n in notes] == ["requests.notify.taken", "requests.notify.withdrawn"]
    assert "/take Q1" in (await second.say("/requests") and second.options())
    assert "您接下了 Q1" in await second.say("/take Q1")


async def test_an_untaken_request_expires_and_the_hold_comes_back(
    services: Services, world: World, chat, clock: FixedClock
) -> None:
    await fund(services, world, world.resident, 50)
    elder = chat("resident1")
    await elder.say("/request 助洁 1h 明天 下午")
    assert "可用积分：40" in await elder.say("/balance")
    clock.advance(days=2)
    assert (
        await jobs.load()["expire-requests"].run(services, clock.now(), {}) == "expire-requests: 1 request(s) expired"
    )
    assert "可用积分：50" in await elder.say("/balance")
    assert "已过期" in await elder.say("/myrequests")
    notes = await services.run(services.outbox.take, "console", person_id=world.resident)
    assert notes[-1].text.key == "requests.notify.expired"


async def test_a_dispute_is_settled_by_a_worker(services: Services, world: World, chat) -> None:
    await fund(services, world, world.resident, 50)
    elder, helper, worker = chat("resident1"), chat("volunteer1"), chat("worker1")
    await elder.say("/request 助洁 2h 11-21 上午 打扫厨房")
    await helper.say("/take Q1")
    await helper.say("/done Q1 2h")
    assert "说明" in await elder.say("/dispute Q1")
    assert "交给社区工作者" in await elder.say("只扫了地，没有擦灶台")
    text = await worker.say("/pending")
    assert "有异议：Q1" in text and "只扫了地" in text
    assert "/settle Q1" in worker.options()
    assert "最多可付 20 分" in await worker.press("/settle Q1")
    assert worker.options() == ["20", "void"]
    assert "最多只能裁定 20 分" in await worker.say("30")
    assert "志愿者1 得到 12 分" in await worker.say("/settle Q1 12")
    assert "可用积分：12" in await helper.say("/balance")
    assert "可用积分：38" in await elder.say("/balance")
    assert "Q1 现在不是待确认状态（已完成）" in await worker.say("/settle Q1 void")


async def test_usage_and_refusals_in_both_languages(services: Services, world: World, chat) -> None:
    helper = chat("volunteer1")
    assert "用法：/request" in await helper.say("/request 明天")
    assert "没有找到求助 Q9" in await helper.say("/take Q9")
    assert "用法：/take" in await helper.say("/take")
    await helper.say("/lang en")
    assert "Usage: /request" in await helper.say("/request tomorrow")
    assert "There are no open requests now." == await helper.say("/requests")
    assert "Usage: /requests" in await helper.say("/requests nonsense")


async def test_a_worker_asks_for_a_member_and_both_are_recorded(services: Services, world: World, chat) -> None:
    # 孙大爷 has no chat of his own: a worker registers him as volunteer3's relative.
    worker, worker2, helper = chat("worker1"), chat("worker2"), chat("volunteer1")
    await worker.say("/family link volunteer3 孙大爷")
    await worker.say("1")
    [grandpa] = await services.run(services.people.people_named, world.community_id, "孙大爷")
    await fund(services, world, grandpa.person_id, 50)
    assert "用法：/request_for" in await worker.say("/request_for 孙大爷")
    assert "已冻结 20 分" in await worker.say("/request_for 孙大爷 助洁 2h 11-21 上午 擦窗户 地址：2栋101")
    view = await services.run(services.requests.get, world.worker, 1)
    assert (view.requester_id, view.poster_id, view.address) == (grandpa.person_id, world.worker, "2栋101")
    assert await account(services, world.community_id, grandpa.person_id) == (50, 20)
    assert "社区工作者" in await helper.say("/request_for 孙大爷 助洁 2h 11-21")
    # A member with a chat of their own asks themselves.
    assert "自己使用聊天" in await worker.say("/request_for resident1 助洁 2h 11-21")
    await worker2.say("/approve Q1")  # his points: a second worker opens it
    await helper.say("/take Q1")
    await helper.say("/done Q1 2h")
    assert "另一位社区工作者批准" in await worker2.say("/accept Q1")
    assert "已支付 20 分" in await worker.say("/approve Q1")  # two workers agreed


async def test_reject_q_refuses_the_pool_and_asks_for_a_reason(services: Services, world: World, chat) -> None:
    elder, worker = chat("resident1"), chat("worker1")
    await elder.say("/request 助洁 1h 11-22 积分池")
    assert "理由" in await worker.say("/reject Q1")
    assert "已告知求助人" in await worker.say("名额已满")
    assert (await services.run(services.requests.get, world.resident, 1)).status == "refused"
    assert "Q1 已经处理过了（积分池未批准）" in await worker.say("/approve Q1")


async def test_a_redelivered_update_posts_once(services: Services, world: World, chat) -> None:
    await fund(services, world, world.resident, 50)
    elder = chat("resident1")
    assert "求助 Q1 已发布" in await elder.say("/request 助洁 1h 明天", request_key="update-77")
    assert "已经发布过了" in await elder.say("/request 助洁 1h 明天", request_key="update-77")
    assert await account(services, world.community_id, world.resident) == (50, 10)


async def test_a_family_member_asks_for_a_relative_and_confirms(services: Services, world: World, chat) -> None:
    worker, member, helper, stranger = chat("worker1"), chat("volunteer2"), chat("volunteer1"), chat("volunteer3")
    await worker.say("/family link volunteer2 李爷爷")  # a relative with no phone, registered by the worker
    await worker.say("1")
    await member.say("/as 李爷爷")
    assert "由社区按服务时长计分" in await member.say("/request 助洁 1h 明天 社区 扫院子")
    await member.say("/as me")
    view = await services.run(services.requests.get, world.worker, 1)
    assert (view.requester_name, view.poster_id) == ("李爷爷", world.volunteers[1])
    await helper.say("/take Q1")
    await helper.say("/done Q1 1h")
    assert "只有求助人" in await stranger.say("/accept Q1")
    assert "交社区工作者审核" in await member.say("/accept Q1")  # as themselves: family confirms
    with services.db.read() as session:
        decided = session.scalar(select(ServiceRequest.decided_by_id).where(ServiceRequest.id == 1))
    assert decided == world.volunteers[1]  # the real person is recorded
