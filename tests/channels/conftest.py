"""The bot as `lovebank serve` runs it, on the recording Bot API, over the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.dialogs.core import MAX_OPTION_BYTES
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from tests.channels.kit import Telegram, running

ADMIN_ID = 1001


@pytest.fixture
def tg_settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        admins=[f"telegram:{ADMIN_ID}"],
        telegram_token="123:abc",
    )


@pytest.fixture
async def tg_services(database: Database, tg_settings: Settings, clock: FixedClock) -> Services:
    return Services(database, tg_settings, clock)


@pytest.fixture
async def tg(tg_services: Services, tg_settings: Settings) -> AsyncIterator[Telegram]:
    async with running(tg_services, tg_settings) as telegram:
        yield telegram
        for call in telegram.api.calls:  # every keyboard the bot sent fits Telegram's callback data limit
            for button in call.buttons:
                assert 0 < len(button["callback_data"].encode()) <= MAX_OPTION_BYTES, button
