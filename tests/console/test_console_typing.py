"""What people type in the console chat, read the way they mean it: full-width characters from a
Chinese input method, command words in the middle of a step, and natural Chinese."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import func, select

from bot import demo
from bot.services import Services
from handlers.console import chat
from models import AuditEntry, Person, ServiceLog, ServiceRequest


def wide(text: str) -> str:
    """As a Chinese input method in full-width mode types it: ＡＢＣ１２３, the ideographic space."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def test_full_width_numbers_and_ids_work_everywhere(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    assert "已通过" in (await say(services, "worker1", "/pending", wide("1"))).split("全部通过")[-1]
    pending = await services.run(services.hours.logs_of, world.volunteers[1], world.community_id, status="pending")
    assert f"H{pending[0].id}" in await say(services, "worker1", "/approve " + wide(f"H{pending[0].id}"))
    left = await services.run(services.hours.logs_of, world.volunteers[1], world.community_id, status="pending")
    assert pending[0].id not in [log.id for log in left]
    [open_request] = (await services.run(services.requests.board, world.volunteers[1], world.community_id)).requests
    assert "您接下了" in await say(services, "volunteer2", "/take " + wide(open_request.ref))
    assert "王秀英" in await say(services, "worker1", "/elders " + wide("E1"))
    shop = await say(services, "volunteer1", "/shop", wide("4"))
    assert "毛巾" in shop.split("4. I4")[-1]

    # A redemption typed full-width, and its pickup code typed full-width by the worker.
    ordered = await say(services, "volunteer1", "/redeem " + wide("I4 1"))
    order = re.search(r"R(\d+)", ordered)
    assert order, ordered
    await services.run(services.shop.approve, world.workers[0], int(order[1]))
    [view] = [
        o
        for o in await services.run(services.shop.orders, world.volunteers[0], world.community_id)
        if o.id == int(order[1])
    ]
    done = await say(services, "worker1", "/pickup " + wide(view.pickup_code))
    assert "核销成功" in done, done
    with services.db.read() as session:  # the right code spent none of the tries
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "handover.wrong_code")
            )
            == 0
        )


async def test_a_full_width_phone_number_registers(services: Services) -> None:
    await demo.seed(services)
    code = re.search(r"[A-Z0-9]{6,}", await say(services, "worker1", "/invite"))
    assert code
    shown = await say(services, "newcomer", f"/start {code[0]}", "李四", wide("13900000002"))
    assert "登记成功" in shown and "格式不对" not in shown, shown
    with services.db.read() as session:
        assert session.scalar(select(Person.phone).where(Person.real_name == "李四")) == "13900000002"


async def test_a_command_word_typed_in_the_middle_of_a_step_is_that_command(services: Services) -> None:
    await demo.seed(services)
    shown = await say(services, "volunteer1", "/log", "探望", "余额", "1")
    after = shown.split("您是不是想写")[-1]
    assert "可用积分" in after and "没有“余额”这个服务类别" not in after
    assert "已取消" in after  # the step is left as /cancel would, and the person is told
    assert after.rstrip().endswith("没看懂您的意思。发送 /help 查看可以做什么。")  # 1 no longer picks a category
    assert "您可以这样用" in (await say(services, "volunteer1", "/log", "帮助")).split("请选择服务类别")[-1]
    assert "已取消" in (await say(services, "volunteer1", "/log", "取消")).split("请选择服务类别")[-1]
    # A line that only starts with a command word is the step's answer (a note may begin with 记录).
    note = await say(services, "volunteer1", "/log", "1", "1", "1h", "记录 陪王奶奶聊天")
    assert "备注：记录 陪王奶奶聊天" in note, note
    # A command word a step reads as its answer stays the answer: 积分 pays with one's own points.
    paying = await say(services, "volunteer1", "/request", "1", "明天", "上午", "2", "积分")
    assert "请简单说明需要做什么" in paying and "可用积分" not in paying


async def _logs_since(services: Services, person_id: int, after: int) -> list[ServiceLog]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(ServiceLog)
                .where(ServiceLog.person_id == person_id, ServiceLog.id > after)
                .order_by(ServiceLog.id)
            )
        )


async def test_natural_chinese_is_understood_and_confirmed_before_it_is_saved(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    me, today = world.volunteers[0], (await services.run(services.people.clock_of, world.community_id)).today()
    with services.db.read() as session:
        before = session.scalar(select(func.max(ServiceLog.id)))
    for asked in ("帮我看看积分", "我的积分还有多少"):
        assert "可用积分" in await say(services, "volunteer1", asked)
    assert "积分明细" in await say(services, "volunteer1", "积分明细给我看看")

    shown = await say(services, "volunteer1", "我今天探访了王奶奶两个小时")
    assert "类别：探访" in shown and "时长：2 小时" in shown and f"日期：{today}" in shown
    assert await _logs_since(services, me, before) == []  # read from a sentence: asked first
    assert "已提交服务记录" in await say(services, "volunteer1", "提交")
    [log] = await _logs_since(services, me, before)
    assert (log.minutes, log.service_date, log.note) == (120, today, "我今天探访了王奶奶两个小时")

    # A sentence that leaves out how long is asked for it, and keeps what it said.
    await say(services, "volunteer1", "我昨天助餐了", "1.5", "提交")
    assert [(x.minutes, x.service_date) for x in await _logs_since(services, me, log.id)] == [
        (90, today - timedelta(days=1))
    ]

    # /log with its parts in any order, and days as people name them.
    assert "已提交服务记录" in await say(services, "volunteer1", "/log 探访 1h")
    last_wednesday = today - timedelta(days=today.weekday() + 7 - 2)
    assert "已提交服务记录" in await say(services, "volunteer1", "/log 1h 助洁 上周三 擦窗户")
    tomorrow = today + timedelta(days=1)
    for typed in ("明天", "后天", f"{tomorrow.month:02d}-{tomorrow.day:02d}"):
        refused = await say(services, "volunteer1", f"/log 1h 探访 {typed}")
        assert "还没到" in refused and "31" not in refused, refused
    logged = [(x.minutes, x.service_date, x.note) for x in await _logs_since(services, me, log.id)][1:]
    assert logged == [(60, today, None), (60, last_wednesday, "擦窗户")]


async def test_what_is_not_understood_gets_the_closest_command(services: Services) -> None:
    await demo.seed(services)
    assert "/balance" in await say(services, "volunteer1", "/blance")
    assert "/balance" in await say(services, "volunteer1", "余颔")
    assert "没看懂" in await say(services, "volunteer1", "今天天气真好啊")


async def test_a_request_asked_for_at_noon_is_at_noon(services: Services) -> None:
    await demo.seed(services)
    # 孙大爷 asks himself: a worker may not ask for someone who has a chat of their own.
    for line in ("/request 助洁 2h 明天 中午 社区", "/request 助洁 1h 明天下午 社区"):
        assert "已发布" in await say(services, "resident1", line)
    with services.db.read() as session:
        slots = list(session.scalars(select(ServiceRequest.slot).order_by(ServiceRequest.id.desc()).limit(2)))
    assert slots == ["afternoon", "noon"]
    assert "中午" in await say(services, "volunteer2", "/requests")
