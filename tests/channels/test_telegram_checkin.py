"""A door card's Telegram deep link, opened by a volunteer, through the real webhook, inbox and
Bot API client: the check-in is recorded, the visit completed by buttons is verified, and the
wellbeing questions follow; the old card's link stops working once the card is reprinted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services import Services
from bot.visits.cards import make_token
from models import Elder, VisitRecord
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, texts

pytestmark = pytest.mark.db


async def card_token(services: Services) -> str:
    with services.db.read() as session:
        elder = session.scalar(select(Elder))
        return make_token(elder.card_key, elder.id, elder.card_generation)


async def test_a_deep_link_checks_in_and_the_visit_is_verified(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    worker, volunteer = cast.worker, cast.volunteer
    assert "E1 王秀英" in texts(await worker.send("/addelder 王秀英,1942,幸福里3栋501,一网格,是,高"))
    await worker.send("/assign E1 王芳")
    printed = await worker.send("/elders E1 card")
    assert [c.method for c in printed if c.files] == ["sendDocument"]
    assert "王秀英 的探访卡（第 1 版）" in texts(printed)
    token = await card_token(tg_services)

    # Opening https://t.me/<bot>?start=<token> sends "/start <token>" from the volunteer's chat.
    opened = texts(await volunteer.send(f"/start {token}"))
    assert "📍 已在 E1 王秀英 家签到" in opened and "老人情况怎么样？" in opened
    await volunteer.press("良好")
    await volunteer.press("跳过")  # the note
    await volunteer.press("跳过")  # a location or a photo
    saved = texts(await volunteer.press("1 小时"))
    assert "✅ 已记录 T1：E1 王秀英 · 探访 · 良好 · 已扫码核实。" in saved and "老人精神怎么样？" in saved
    assert "身体怎么样？" in texts(await volunteer.press("好"))
    with tg_services.db.read() as session:
        visit = session.scalar(select(VisitRecord))
    assert (visit.verified, visit.mood) == (True, "good")

    # Reprinted: the old link is refused, kindly, and records nothing.
    await worker.send("/elders E1 card")
    refused = texts(await volunteer.send(f"/start {token}"))
    assert "旧探访卡" in refused and "签到" not in refused.split("旧探访卡")[0]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert "这张探访卡无法识别" in texts(await volunteer.send(f"/start {forged}"))
    with tg_services.db.read() as session:
        assert len(session.scalars(select(VisitRecord)).all()) == 1
