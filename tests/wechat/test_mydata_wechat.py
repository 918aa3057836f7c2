"""/mydata on WeChat: the export comes as a download link (WeChat carries no files), and the file
behind it holds the person's rows and nobody else's."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from tests.wechat.serving import Served, serving
from tests.wechat.standin import APIServer
from tests.world import make_world

pytestmark = pytest.mark.db


@pytest.fixture
async def services(database: Database, settings: Settings) -> Services:
    return Services(database, settings, Clock())


@pytest.fixture
async def served(services: Services, settings: Settings, wechat_api: APIServer) -> AsyncIterator[Served]:
    async with serving(services, settings, wechat_api) as served:
        yield served


async def test_a_volunteer_on_wechat_gets_their_data_as_a_link(served: Served) -> None:
    world = await make_world(served.services)
    made = await served.services.run(served.services.links.new_code, world.volunteer, "console")
    assert "关联成功" in await served.reply("oVolunteer", f"/link {made.code}")
    text = await served.say("oVolunteer", "/mydata json")
    if not text:  # past WeChat's wait for a passive answer: it comes by the API
        [sent] = await served.api.api.until(
            lambda s: s.openid == "oVolunteer" and "/download/" in s.content, timeout=20
        )
        text = sent.content
    url = re.search(r"http\S+/download/(\S+)", text)
    assert url is not None, text
    download = await served.client.get(f"/download/{url.group(1)}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/json"
    tables = json.loads(download.content)["tables"]
    assert [p["id"] for p in tables["people"]] == [world.volunteer]
    assert {i["channel"] for i in tables["identities"]} == {"console", "wechat"}
    assert "志愿者1" in download.text and "志愿者2" not in download.text and "13800000001" not in download.text
