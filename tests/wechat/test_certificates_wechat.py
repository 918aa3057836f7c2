"""A certificate reaches a WeChat worker as a download link (WeChat carries no files): the PDF
behind it is the certificate, its download audited like a report's."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from models import AuditEntry, Certificate
from tests.wechat.serving import Served, count, serving, wechat_worker
from tests.wechat.standin import APIServer
from tests.world import make_world

pytestmark = pytest.mark.db


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    return Services(database, settings, Clock())  # a real clock, as the other webhook tests


@pytest.fixture
async def served(services: Services, settings: Settings, wechat_api: APIServer) -> AsyncIterator[Served]:
    async with serving(services, settings, wechat_api) as served:
        yield served


async def test_a_worker_on_wechat_gets_the_certificate_as_a_link(served: Served) -> None:
    world = await make_world(served.services)
    await wechat_worker(served, world)
    year = served.services.clock.now().year
    text = await served.say("oWorker", f"/certificate 志愿者1 {year}")
    if not text:  # drawing took longer than WeChat waits for a passive answer: it comes by the API
        [sent] = await served.api.api.until(lambda s: s.openid == "oWorker" and "/download/" in s.content, timeout=20)
        text = sent.content
    url = re.search(r"http\S+/download/(\S+)", text)
    assert url is not None, text
    download = await served.client.get(f"/download/{url.group(1)}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    page = re.sub(r"[\s\x00]+", "", PdfReader(io.BytesIO(download.content)).pages[0].extract_text())
    with served.services.db.read() as session:
        number = session.query(Certificate.number).scalar()
    assert number and number in page and "志愿者1" in page and "累计志愿服务时长0小时" in page
    assert await count(served.services, AuditEntry, AuditEntry.action == "file.download") == 1
