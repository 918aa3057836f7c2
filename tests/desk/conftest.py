"""The desk's tests: the shared world, with the public address the login links point at."""

from __future__ import annotations

import pytest

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.services import Services
from tests.desk.kit import PUBLIC


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, admins=["console:admin"], public_url=PUBLIC)  # type: ignore[call-arg]


@pytest.fixture
async def services(database: Database, settings: Settings, clock: FixedClock) -> Services:
    return Services(database, settings, clock)


@pytest.fixture
def dialogs(services: Services) -> Dialogs:
    return Dialogs(services)
