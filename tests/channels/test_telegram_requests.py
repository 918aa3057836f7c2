"""Service requests on Telegram, through the webhook and the inbox as `lovebank serve` runs it, on
the recording Bot API: a request
asked for by buttons and paid from one's own points, one paid by the pool, one by the community,
a withdrawal, an expiry and a dispute; notifications delivered; forged buttons refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import jobs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import Person
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import (
    Cast,
    Telegram,
    TgUser,
    available,
    found_community,
    person_of,
    snapshot,
    texts,
)

pytestmark = pytest.mark.db


async def _neighbours(tg: Telegram, services: Services) -> tuple[Cast, TgUser, TgUser]:
    cast = await found_community(tg, ADMIN_ID)
    elder = tg.user(4004, "李奶奶", "granny_li")
    await elder.send(f"/start {cast.code}")
    await elder.send("李秀兰")
    await elder.share_contact("+8613800000004")
    second = tg.user(5005, "赵强", "zhaoqiang")
    await second.send(f"/start {cast.code}")
    await second.send("赵强")
    await second.share_contact("+8613800000005")
    await fund(services, elder, 60)
    return cast, elder, second


async def fund(services: Services, user: TgUser, amount: int) -> None:
    person_id = await person_of(services, user)
    with services.db.read() as session:
        community_id = session.scalar(select(Person.community_id).where(Person.id == person_id))
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(
            s, community_id=community_id, person_id=person_id, amount=amount, key=f"fund:{person_id}:{amount}"
        ),
    )


async def test_own_points_by_buttons_taken_done_and_accepted(tg: Telegram, tg_services: Services) -> None:
    cast, elder, second = await _neighbours(tg, tg_services)
    helper = cast.volunteer
    [ask] = await elder.send("/request")
    assert "需要什么服务" in ask.text and len(ask.buttons) == 13
    await elder.press("助洁")
    await elder.press("tomorrow")
    await elder.press("morning")
    await elder.press("120")
    out = texts(await elder.press("own"))
    assert "说明" in out
    await elder.send("擦窗户")
    await elder.send("5栋302")
    out = texts(await elder.press("yes"))
    assert "求助 Q1 已发布，已冻结 20 分" in out
    assert await available(tg_services, elder) == 40

    out = await helper.send("/requests")
    assert "Q1 助洁 · 11-21 上午 · 2 小时" in texts(out) and "5栋302" not in texts(out)
    await second.send("/requests")
    out = texts(await helper.press("/take Q1"))
    assert "您接下了 Q1" in out and "5栋302" in out
    # The second volunteer presses the same button a moment later: refused, nothing written.
    before = await snapshot(tg_services)
    assert "已经有人接了" in texts(await second.press("/take Q1"))
    assert await snapshot(tg_services) == before

    tg.api.clear()
    await tg.deliver()
    [note] = tg.api.sent("sendMessage", chat_id=elder.id)
    assert "王芳 接了您的求助 Q1" in note.text

    await helper.send("/done Q1 1.5h")
    out = await elder.send("/myrequests")
    assert "待确认" in texts(out)
    out = texts(await elder.press("/accept Q1"))
    assert "王芳 完成了 Q1（1.5 小时），已支付 15 分" in out
    assert await available(tg_services, helper) == 15
    assert await available(tg_services, elder) == 45


async def test_pool_community_withdraw_expire_and_dispute(
    tg: Telegram, tg_services: Services, clock: FixedClock
) -> None:
    cast, elder, second = await _neighbours(tg, tg_services)
    worker, helper = cast.worker, cast.volunteer
    await fund(tg_services, second, 50)
    await second.send("/donate 50")
    await second.press("yes")

    # The pool: the worker grants it from /pending by its button.
    assert "等待社区工作者批准" in texts(await elder.send("/request 助餐 1h 11-22 中午 积分池 送午饭"))
    out = await worker.send("/pending")
    assert "积分池申请：Q1" in texts(out)
    assert "冻结 10 分" in texts(await worker.press("/approve Q1"))
    await helper.send("/take Q1")
    await helper.send("/done Q1 1h")
    assert "已支付 10 分" in texts(await elder.send("/accept Q1"))

    # The community pays: the confirmed hours wait for a worker as any log does.
    assert "由社区按服务时长计分" in texts(await elder.send("/request 助医 2h 11-23 上午 社区"))
    await helper.send("/take Q2")
    await helper.send("/done Q2 2h")
    assert "交社区工作者审核" in texts(await elder.send("/accept Q2"))
    log_id = (await tg_services.run(tg_services.requests.get, await person_of(tg_services, worker), 2)).service_log_id
    assert f"H{log_id}" in texts(await worker.send("/pending"))
    await worker.press(f"/approve H{log_id}")
    assert await available(tg_services, helper) == 30

    # Withdraw, and another volunteer takes it.
    await elder.send("/request 助洁 1h 11-24")
    await helper.send("/take Q3")
    assert "重新开放" in texts(await helper.send("/withdraw Q3"))
    assert "您接下了 Q3" in texts(await second.send("/take Q3"))

    # Nobody takes this one: it expires and the hold comes back.
    await elder.send("/request 助洁 1h 明天")
    assert await available(tg_services, elder) == 40  # Q3 and Q4 hold 10 each
    clock.advance(days=2)
    await jobs.load()["expire-requests"].run(tg_services, clock.now(), {})
    assert "已过期" in texts(await elder.send("/myrequests"))
    assert await available(tg_services, elder) == 50

    # A dispute, settled by the worker's button.
    await second.send("/done Q3 1h")
    out = texts(await elder.send("/dispute Q3 没来"))
    assert "交给社区工作者" in out
    out = await worker.send("/pending")
    assert "有异议：Q3" in texts(out)
    # A volunteer forging the worker's button, or typing it, is refused and nothing changes.
    [menu] = await helper.send("/request")
    await helper.send("/cancel")
    before = await snapshot(tg_services)
    forged = texts(await helper.press_raw("/settle Q3 10", menu.result))
    typed = texts(await helper.send("/settle Q3 10"))
    assert "社区工作者" in typed, typed
    assert await snapshot(tg_services) == before, forged
    await worker.press("/settle Q3")
    assert "已作废 Q3" in texts(await worker.press("void"))
    assert await available(tg_services, elder) == 60
