"""Catalogue management, gifts and donations through the chat, and the monthly stock
reconciliation in the chat and from the command line."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from bot.dialogs.core import Input
from bot.kernel.clock import FixedClock
from bot.kernel.settings import Settings
from bot.runtime.cli import _export_stock
from bot.services import Services
from bot.shop.service import StockLine
from models import AuditEntry
from tests.ledger import ledger_invariants
from tests.shop_helpers import Chat, account, fund, redemption, snapshot, stock
from tests.world import make_world


async def test_worker_adds_edits_restocks_and_withdraws_items(services: Services) -> None:
    w = await make_world(services)
    await fund(services, w, w.volunteer, 500)
    chat = Chat(services)

    assert "已上架 I1 大米5kg：100 分，剩 20 件" in (await chat.say("worker1", "/additem 大米5kg 100 20")).text
    assert "已上架 I2 理发服务：30 分，不限量" in (await chat.say("worker1", "/additem 理发服务 30")).text
    assert "已上架 I3 义务维修 上门：40 分，不限量" in (await chat.say("worker1", "/additem 义务维修 上门 40 -")).text
    assert "已经有叫“大米5kg”的物品了（I1）" in (await chat.say("worker2", "/additem 大米5kg 90 5")).text
    assert "用法" in (await chat.say("worker1", "/additem 大米")).text
    assert "只有本社区的社区工作者" in (await chat.say("volunteer1", "/additem 面粉 50 5")).text

    # Step by step, with a donor and a photo.
    await chat.say("worker1", "/additem")
    await chat.say("worker1", "食用油")
    assert "积分请填" in (await chat.say("worker1", "很多")).text
    asked = await chat.say("worker1", "80")
    assert asked.options == ["-"]
    await chat.say("worker1", "15")
    # A donor's name too long is refused in words, never cut short; the step asks again.
    refused = await chat.say("worker1", "福" * 101)
    assert refused.text.startswith("捐赠单位名称最多 100 个字。") and "是哪家爱心企业捐赠的" in refused.text
    asked = await chat.say("worker1", "福满仓粮油")
    assert "照片" in asked.text
    confirm = (await chat.send("worker1", Input(photo="file-oil"))).text
    assert "食用油" in confirm and "15" in confirm and "福满仓粮油" in confirm
    assert "已上架 I4 食用油：80 分，剩 15 件" in (await chat.say("worker1", "1")).text
    oil = await services.run(services.shop.item, w.volunteer, w.community_id, 4)
    assert (oil.item.donor, oil.item.photo) == ("福满仓粮油", "file-oil")

    assert "已修改：I1 大米5kg · 120分" in (await chat.say("worker1", "/edititem I1 price 120")).text
    assert "已修改：I1 东北大米5kg" in (await chat.say("worker1", "/edititem I1 名称 东北大米5kg")).text
    assert "/restock I1" in (await chat.say("worker1", "/edititem I1 stock 5")).text

    asked = await chat.say("worker1", "/restock I1 10")
    assert "请写明 I1 库存变动 +10 的理由" in asked.text
    assert "现在剩 30 件" in (await chat.say("worker1", "爱心企业捐赠")).text
    assert "现在剩 28 件" in (await chat.say("worker1", "/restock I1 -2 包装破损")).text
    before = await snapshot(services)
    assert "只剩 28 件" in (await chat.say("worker1", "/restock I1 -29 盘点")).text
    assert "不限量的，不需要补货" in (await chat.say("worker1", "/restock I2 5 多排班")).text
    assert await snapshot(services) == before
    # A redelivered restock adds nothing twice.
    await chat.say("worker1", "/restock I1 5 补货", request_key="u-7")
    assert "之前已经记过了" in (await chat.say("worker1", "/restock I1 5 补货", request_key="u-7")).text
    assert await stock(services, 1) == 33
    with services.db.uow() as session:
        restocks = list(
            session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "catalogue.restock").order_by(AuditEntry.id)
            )
        )
    assert [(d["quantity"], d["reason"]) for d in restocks] == [(10, "爱心企业捐赠"), (-2, "包装破损"), (5, "补货")]

    assert "已下架 I2 理发服务" in (await chat.say("worker1", "/deactivate I2")).text
    shelf = await chat.say("volunteer1", "/shop")
    assert "理发服务" not in shelf.text and "东北大米5kg" in shelf.text
    assert "已经下架了" in (await chat.say("volunteer1", "/redeem I2 1")).text
    assert "已下架" in (await chat.say("worker1", "/items")).text
    assert "已重新上架 I2" in (await chat.say("worker1", "/activate I2")).text
    assert "已提交兑换" in (await chat.say("volunteer1", "/redeem I2 1")).text


async def test_shop_pages_and_what_one_can_afford(services: Services) -> None:
    w = await make_world(services)
    await fund(services, w, w.volunteer, 50)
    for i in range(8):
        await services.run(
            services.shop.add_item, w.worker, w.community_id, f"物品{i}", 10 * (i + 1), 0 if i == 1 else 5
        )
    chat = Chat(services)
    first = await chat.say("volunteer1", "/shop")
    assert first.options[-1] == "/shop 2" and len(first.options) == 7
    assert "物品0 · 10分 · 剩 5 件\n" in first.text
    assert "物品1 · 20分 · 剩 0 件 · 已兑完" in first.text
    assert "物品5 · 60分 · 剩 5 件 · 积分不够" in first.text
    second = await chat.choose("volunteer1", first, "/shop 2")
    assert "第 2 页" in second.text and "物品7" in second.text and "/shop 3" not in second.options
    short = await chat.say("volunteer1", "/redeem I8")
    assert "积分不够：物品7 每件 80 分，您现在可用 50 分" in short.text
    asked = await chat.say("volunteer1", "/redeem I1")
    assert asked.options == ["1", "2", "3", "4", "5"]
    assert "最多只能兑换 5 件" in (await chat.say("volunteer1", "9")).text
    assert "数量请填" in (await chat.say("volunteer1", "很多")).text
    before = await snapshot(services)
    assert "已取消" in (await chat.say("volunteer1", "/cancel")).text
    assert await snapshot(services) == before


async def test_gift_and_donation_are_confirmed_before_points_move(services: Services) -> None:
    w = await make_world(services)
    await fund(services, w, w.volunteer, 100)
    chat = Chat(services)
    v1, v2 = w.volunteers[:2]

    confirm = await chat.say("volunteer1", "/gift volunteer2 30")
    assert "转赠 30 积分给 志愿者2" in confirm.text
    assert await account(services, w.community_id, v1) == (100, 0)
    assert "转赠" in (await chat.say("volunteer1", "不确定")).text  # asks again, moves nothing
    assert "已转赠 30 积分给 志愿者2。您现在可用 70 分" in (await chat.choose("volunteer1", confirm, "yes")).text
    assert "按钮已经过期" in (await chat.press("volunteer1", "yes")).text  # pressed again: nothing moves
    assert await account(services, w.community_id, v1) == (70, 0)
    assert await account(services, w.community_id, v2) == (30, 0)

    await chat.say("volunteer1", "/donate 20")
    assert "已捐赠 20 积分" in (await chat.say("volunteer1", "确认")).text
    assert await account(services, w.community_id, None, "pool") == (20, 0)

    before = await snapshot(services)
    await chat.say("volunteer1", "/donate 500")
    assert "积分不足" in (await chat.say("volunteer1", "yes")).text
    # Someone of another community is not found at all: the prompt never names them.
    assert "没有找到“otherworker”" in (await chat.say("volunteer1", "/gift otherworker 10")).text
    assert "积分不够" in (await chat.say("volunteer1", "/gift volunteer2 71")).text  # before any prompt
    assert "不能转赠给自己" in (await chat.say("volunteer1", "/gift volunteer1 10")).text
    assert "没有找到“nobody”" in (await chat.say("volunteer1", "/gift nobody 10")).text
    assert "用法" in (await chat.say("volunteer1", "/gift volunteer2")).text
    await chat.say("volunteer1", "/gift volunteer2 10")
    assert "已取消" in (await chat.say("volunteer1", "/cancel")).text
    assert await snapshot(services) == before
    await ledger_invariants(services)


async def test_reconciliation_spans_months(
    services: Services, clock: FixedClock, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """October: rice restocked and redeemed; November: handed over, one released, more restocked.
    Each month adds up on its own, November's closing is the shelf, and the CLI prints it."""
    clock.at = clock.at.replace(month=10, day=10)
    w = await make_world(services)
    await fund(services, w, w.volunteer, 1000)
    shop = services.shop
    rice = (await services.run(shop.add_item, w.worker, w.community_id, "大米5kg", 100, 10)).id
    haircut = (await services.run(shop.add_item, w.worker, w.community_id, "理发服务", 30, None)).id
    kept = (await services.run(shop.redeem, w.volunteer, w.community_id, rice, 3)).redemption.id
    dropped = (await services.run(shop.redeem, w.volunteer, w.community_id, rice, 2)).redemption.id
    cut = (await services.run(shop.redeem, w.volunteer, w.community_id, haircut, 1)).redemption.id
    for rid in (kept, cut):
        await services.run(shop.approve, w.worker, rid)

    clock.at = clock.at.replace(month=11, day=2)
    await services.run(shop.pickup, w.worker2, w.community_id, (await redemption(services, kept)).pickup_code)
    await services.run(shop.pickup, w.worker2, w.community_id, (await redemption(services, cut)).pickup_code)
    await services.run(shop.reject, w.worker, dropped, "受潮")
    await services.run(shop.restock, w.worker, rice, 4, "捐赠")

    october = await services.run(shop.reconcile, w.worker, w.community_id, "2026-10")
    november = await services.run(shop.reconcile, w.worker, w.community_id, "2026-11")
    o_rice, o_cut = october.lines
    n_rice, n_cut = november.lines

    def figures(line: StockLine) -> tuple:
        return line.opening, line.restocked, line.reserved, line.handed_over, line.released, line.closing

    assert figures(o_rice) == (0, 10, 5, 0, 0, 5)
    assert figures(n_rice) == (5, 4, 0, 3, 2, 11)
    assert (o_cut.reserved, n_cut.handed_over, n_cut.opening, n_cut.closing) == (1, 1, None, None)
    assert n_rice.shelf == 11 == await stock(services, rice) and o_rice.shelf is None
    assert october.balanced and november.balanced
    assert "账物相符" in (await Chat(services).say("worker1", "/reconcile 2026-10")).text
    assert "用法" in (await Chat(services).say("worker1", "/reconcile 十月")).text
    assert "只有本社区的社区工作者" in (await Chat(services).say("volunteer1", "/reconcile")).text

    # The line is checked, not just summed: a movement with the wrong sign is caught.
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(text("UPDATE stock_movements SET delta = 0 WHERE kind = 'release'")),
    )
    tampered = await services.run(shop.reconcile, None, w.community_id, "2026-11")
    assert not tampered.lines[0].balanced and tampered.lines[1].balanced

    assert await _export_stock(settings, "2026-10") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t") == ["社区", "物品", "名称", "期初", "补货", "预留", "发放", "退回", "期末", "账物相符"]
    assert out[1].split("\t") == ["幸福社区", f"I{rice}", "大米5kg", "0", "10", "5", "0", "0", "5", "是"]
    assert out[2].split("\t") == ["幸福社区", f"I{haircut}", "理发服务", "-", "0", "1", "0", "0", "-", "是"]
    assert await _export_stock(settings, "2026-11") == 1  # the tampered release shows up
    assert "\t否" in capsys.readouterr().out
    assert await _export_stock(settings, "11/2026") == 2
