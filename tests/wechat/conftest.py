from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.kernel.settings import Settings
from tests.wechat.standin import AES_KEY, APP_ID, APP_SECRET, TOKEN, APIServer


@pytest.fixture
def wechat_api() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


@pytest.fixture
def settings(database_url: str, wechat_api: APIServer) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        admins=["console:admin"],
        wechat_token=TOKEN,
        wechat_aes_key=AES_KEY,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_url=wechat_api.url,
        public_url="http://bank.test",
    )
