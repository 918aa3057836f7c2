"""Family accounts, expiry and a move on Telegram, through the webhook and the inbox on the recording
Bot API: a grandmother accepts her grandson's code in her own chat, he acts for her by a button,
redeems for her and gets the pickup code in his chat; the community sets expiry and his balance
says when points expire; he moves to another community by buttons on both workers' /pending."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, available, found_community, person_of, texts

pytestmark = pytest.mark.db


async def test_family_expiry_and_move_on_telegram(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    grandson, worker = cast.volunteer, cast.worker
    code = texts(await worker.send("/invite resident")).rsplit("start=", 1)[1].split()[0]
    grandma = tg.user(4004, "王奶奶", "wang_nainai")
    assert "欢迎加入 阳光社区" in texts(await grandma.send(f"/start {code}"))
    grandma_id, grandson_id = await person_of(tg_services, grandma), await person_of(tg_services, grandson)
    community = (await tg_services.run(tg_services.people.membership, grandma_id, 1)).community_id
    await tg_services.db.run(
        tg_services.db.transaction,
        lambda s: tg_services.ledger.earn(
            s, community_id=community, person_id=grandma_id, amount=150, key="grandma-savings"
        ),
    )
    await tg_services.run(tg_services.shop.add_item, await person_of(tg_services, worker), community, "食用油", 100, 5)

    # Linking: a code in his chat, accepted in hers.
    out = texts(await grandson.send("/family add"))
    family_code = out.split("/family accept ")[1].split()[0]
    assert "王芳" in texts(await grandma.send(f"/family accept {family_code}"))
    # Acting for her by the button on /family.
    await grandson.send("/family")
    assert "现在您代 王奶奶 操作" in texts(await grandson.press("/as 王奶奶"))
    assert "可用积分：150" in texts(await grandson.send("/balance"))
    await grandson.send("/shop")
    await grandson.press("/redeem I1")
    await grandson.press("1")
    assert "已提交兑换 R1" in texts(await grandson.press("yes"))
    refused = texts(await grandson.send("/log 1h 探访"))
    assert "正在代 王奶奶 操作" in refused

    await worker.send("/pending")
    await worker.press("/approve_order R1")
    tg.api.clear()
    await tg.deliver()
    assert any("取货码" in c.text for c in tg.api.sent("sendMessage", chat_id=grandson.id))
    # The code goes to the one who redeemed; she is told what was done for her, and by whom.
    told = [c.text for c in tg.api.sent("sendMessage", chat_id=grandma.id)]
    assert not any("取货码" in t for t in told) and any("王芳 代 王奶奶 兑换了 食用油" in t for t in told), told
    assert "回到您自己的账户" in texts(await grandson.send("/as me"))

    # Expiry: the worker sets it, and the balance says when points expire.
    await tg_services.db.run(
        tg_services.db.transaction,
        lambda s: tg_services.ledger.earn(
            s, community_id=community, person_id=grandson_id, amount=40, key="grandson-points"
        ),
    )
    assert "36" in texts(await worker.send("/expiry 36"))
    assert "40 分将于 2029-11-01 到期" in texts(await grandson.send("/balance"))

    # A move: asked in the chat, approved and accepted by buttons on each worker's /pending.
    admin = cast.admin
    await admin.send("/newcommunity 青山社区")
    other_worker = tg.user(2003, "李强", "liqiang")
    await other_worker.send("/start")
    await admin.send("/community 青山社区")
    await admin.send("/appoint @liqiang")
    assert "M1" in texts(await grandson.send("/move 青山社区"))
    await worker.send("/pending")
    assert "已批准" in texts(await worker.press("/approve_move M1"))
    out = texts(await other_worker.send("/pending"))
    assert "王芳" in out and "M1" in out
    assert "40 积分已迁入 青山社区" in texts(await other_worker.press("/approve_move M1"))
    tg.api.clear()
    await tg.deliver()
    assert any("迁移 M1 完成" in c.text for c in tg.api.sent("sendMessage", chat_id=grandson.id))
    assert await available(tg_services, grandson) == 40
