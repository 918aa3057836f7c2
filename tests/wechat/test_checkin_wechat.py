"""A door card on WeChat: the card's QR code is a permanent parametric QR code whose scene is the
card's signed token (made through the API stand-in), and a volunteer's scan arrives as a signed,
AES-encrypted `SCAN` event that checks in and starts a verified visit; a forged scene is refused."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from bot.visits.cards import make_token
from models import Elder, VisitCheckin, VisitRecord
from tests.visits_world import roster_world
from tests.wechat.serving import Served, serving, wechat_worker
from tests.wechat.standin import APIServer

pytestmark = pytest.mark.db


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    return Services(database, settings, Clock())  # real time: the inbox's holds are real here


@pytest.fixture
async def served(services: Services, settings: Settings, wechat_api: APIServer) -> AsyncIterator[Served]:
    async with serving(services, settings, wechat_api) as served:
        yield served


async def test_scanning_the_card_checks_in_a_verified_visit(served: Served) -> None:
    r = await roster_world(served.services)
    wang = r.elders["王秀英"]
    await wechat_worker(served, r.world)
    made = await served.services.run(served.services.links.new_code, r.volunteer, "console")
    assert "关联成功" in await served.reply("oVolunteer", f"/link {made.code}")

    printed = await served.say("oWorker", f"/elders E{wang} card")
    if "/download/" not in printed:  # drawing took longer than WeChat waits: it comes by the API
        [sent] = await served.api.api.until(lambda s: s.openid == "oWorker" and "/download/" in s.content, timeout=20)
        printed = sent.content
    assert "王秀英 的探访卡（第 1 版）" in printed
    # WeChat carries no files: the card is a download link to the PDF.
    url = re.search(r"http\S+/download/(\S+)", printed)
    assert url is not None, printed
    download = await served.client.get(f"/download/{url.group(1)}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    page = re.sub(r"[\s\x00]+", "", PdfReader(io.BytesIO(download.content)).pages[0].extract_text())
    assert "王秀英" in page and "爱心探访卡" in page
    with served.services.db.read() as session:
        elder = session.get(Elder, wang)
        token = make_token(elder.card_key, elder.id, elder.card_generation)
    # The card's QR code is made by WeChat for the token after the turn (scanning it sends the
    # token back), and the card follows as a download link.
    for _ in range(200):
        if token in served.api.api.qr.values():
            break
        await asyncio.sleep(0.05)
    assert token in served.api.api.qr.values()

    # The volunteer scans it: WeChat sends a SCAN event whose EventKey is the scene.
    answer = await served.post(served.wechat.event("oVolunteer", "SCAN", token))
    content = answer.message(served.wechat.crypto)["Content"]
    assert f"📍 已在 E{wang} 王秀英 家签到" in content and "老人情况怎么样？" in content
    await served.say("oVolunteer", "1")  # well
    await served.say("oVolunteer", "跳过")  # the note
    await served.say("oVolunteer", "跳过")  # a location or a photo
    saved = await served.say("oVolunteer", "3")  # 1 hour
    assert f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好 · 已扫码核实。" in saved and "老人精神怎么样？" in saved
    with served.services.db.read() as session:
        visit = session.scalar(select(VisitRecord))
        scan = session.scalar(select(VisitCheckin))
    assert visit.verified and scan.visit_id == visit.id and scan.person_id == r.volunteer

    # A scene nobody signed: a friendly refusal, nothing recorded.
    forged = await served.post(served.wechat.event("oVolunteer", "SCAN", f"ck-{wang}-1-{'x' * 16}"))
    assert "这张探访卡无法识别" in forged.message(served.wechat.crypto)["Content"]
    with served.services.db.read() as session:
        assert len(session.scalars(select(VisitCheckin)).all()) == 1
