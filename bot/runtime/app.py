"""Building the application core for a command: settings → migrated database → services."""

from __future__ import annotations

from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, make_data_folder
from bot.services import Services


async def open_services(settings: Settings) -> Services:
    """Every command that needs the database migrates it first."""
    make_data_folder(settings)
    await upgrade(settings.database_url)
    return Services(Database(settings.database_url), settings)
