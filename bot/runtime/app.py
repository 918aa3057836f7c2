"""Building the application core for a command: settings → migrated database → services."""

from __future__ import annotations

import gc

from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, make_data_folder
from bot.services import Services


async def open_services(settings: Settings) -> Services:
    """Every command that needs the database migrates it first."""
    make_data_folder(settings)
    await upgrade(settings.database_url)
    return Services(Database(settings.database_url), settings)


def settle_memory() -> None:
    """Called once start-up is done: what it built (libraries, catalogues, the services) lives as
    long as the process, so it leaves the collector's sight. A full collection then walks only
    what turns allocate; before, one stalled every update in flight for 150-190 ms (bench
    updates, a tenth of a district)."""
    gc.collect()
    gc.freeze()
