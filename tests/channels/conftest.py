"""A real Application on the recording Bot API, over the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram.ext import AIORateLimiter, Application

from bot.clock import FixedClock
from bot.db import Database
from bot.dialogs.core import MAX_OPTION_BYTES
from bot.services import Services
from bot.settings import Settings
from handlers.telegram import build_application
from handlers.telegram.offline import RecordingRequest
from tests.channels.kit import Telegram

ADMIN_ID = 1001


@pytest.fixture
def tg_settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, admins=[f"telegram:{ADMIN_ID}"], telegram_token="123:abc",
    )


@pytest.fixture
async def tg_services(database: Database, tg_settings: Settings, clock: FixedClock) -> Services:
    return Services(database, tg_settings, clock)


def offline_application(services: Services, settings: Settings, api: RecordingRequest) -> Application:
    return build_application(
        services, settings, request=api, get_updates_request=RecordingRequest(),
        # Telegram's flood limits would only slow the tests down.
        rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0),
    )


@pytest.fixture
async def tg(tg_services: Services, tg_settings: Settings) -> AsyncIterator[Telegram]:
    api = RecordingRequest()
    app = offline_application(tg_services, tg_settings, api)
    async with app:
        await app.post_init(app)  # what run_polling does after initialising
        yield Telegram(app, api)
    for call in api.calls:  # every keyboard the bot sent fits Telegram's callback data limit
        for button in call.buttons:
            assert 0 < len(button["callback_data"].encode()) <= MAX_OPTION_BYTES, button
