"""Logging in inside WeChat (网页授权, snsapi_base): /desk/wechat sends the browser to WeChat's
authorisation page with a state kept in a cookie; back with a code, the code is exchanged at
the WeChat API stand-in for the openid, and only an identity already in the bank gets a session.
A wrong state, a used code or a stranger's openid gets a friendly page and no session."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from tests.desk.kit import client_for
from tests.wechat.standin import APP_ID, APP_SECRET, APIServer
from tests.world import World

pytestmark = pytest.mark.db


@pytest.fixture
def wechat() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


@pytest.fixture
async def services(database: Database, settings: Settings, clock: FixedClock, wechat: APIServer) -> Services:
    configured = settings.model_copy(
        update={"wechat_app_id": APP_ID, "wechat_app_secret": SecretStr(APP_SECRET), "wechat_api_url": wechat.url}
    )
    return Services(database, configured, clock)


async def joined(services: Services, world: World, openid: str) -> int:
    person, _ = await services.run(services.people.identify, "wechat", openid, display_name="微信用户")
    code = await services.run(services.people.create_invite, world.worker, world.community_id)
    await services.run(services.people.join, person.id, code)
    return person.id


async def test_an_identity_in_the_bank_logs_in_through_wechat(
    services: Services, world: World, wechat: APIServer
) -> None:
    await joined(services, world, "o-member")
    async with client_for(services) as client:
        start = await client.get("/desk/wechat", params={"to": "my"})
        assert start.status_code == 302
        where = urlsplit(start.headers["location"])
        asked = parse_qs(where.query)
        assert f"{where.scheme}://{where.netloc}{where.path}" == "https://open.weixin.qq.com/connect/oauth2/authorize"
        assert where.fragment == "wechat_redirect"
        assert asked["appid"] == [APP_ID] and asked["scope"] == ["snsapi_base"] and asked["response_type"] == ["code"]
        assert asked["redirect_uri"] == ["https://bank.example.org/desk/wechat/back"]
        state = asked["state"][0]
        code = wechat.api.authorize("o-member")
        back = await client.get("/desk/wechat/back", params={"code": code, "state": state})
        assert back.status_code == 303 and back.headers["location"] == "/desk/my"
        assert "httponly" in back.headers["set-cookie"].lower()
        page = await client.get("/desk/my")
        assert page.status_code == 200 and "微信用户" in page.text
        used = await client.get("/desk/wechat/back", params={"code": code, "state": state})  # WeChat's codes work once
        assert used.status_code == 400 and "微信登录没有成功" in used.text


async def test_a_wrong_state_or_a_stranger_gets_no_session(services: Services, world: World, wechat: APIServer) -> None:
    await joined(services, world, "o-member")
    async with client_for(services) as client:
        start = await client.get("/desk/wechat", params={"to": "desk"})
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        forged = await client.get("/desk/wechat/back", params={"code": wechat.api.authorize("o-member"), "state": "x"})
        assert forged.status_code == 400
        stranger = await client.get(
            "/desk/wechat/back", params={"code": wechat.api.authorize("o-nobody"), "state": state}
        )
        assert stranger.status_code == 403 and "还没有加入爱心银行" in stranger.text
        assert (await client.get("/desk/my")).status_code == 401
    async with client_for(services) as fresh:  # no state cookie at all (a link forwarded from elsewhere)
        alone = await fresh.get("/desk/wechat/back", params={"code": wechat.api.authorize("o-member"), "state": state})
        assert alone.status_code == 400 and (await fresh.get("/desk/my")).status_code == 401


async def test_a_member_asking_for_the_desk_gets_their_page_refused_by_role(
    services: Services, world: World, wechat: APIServer
) -> None:
    await joined(services, world, "o-member")
    async with client_for(services) as client:
        start = await client.get("/desk/wechat", params={"to": "desk"})
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        back = await client.get("/desk/wechat/back", params={"code": wechat.api.authorize("o-member"), "state": state})
        assert back.headers["location"] == "/desk/waiting"
        assert (await client.get("/desk/waiting")).status_code == 403  # the role decides, not the link
