"""The supermarket's tables as the migration builds them match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import models
from bot.db import Database

SHOP_TABLES = {"shop_items", "redemptions", "stock_movements"}


def _table_of(diff: object) -> str | None:
    """The table an autogenerate difference is about (its items are tuples of an operation name
    and tables, columns, indexes or names; column changes come wrapped in a list)."""
    for part in diff if isinstance(diff, list) else [diff]:
        for value in part[1:] if isinstance(part, tuple) else ():
            name = getattr(value, "name", None) if not hasattr(value, "table") else value.table.name
            if name:
                return name
            if isinstance(value, str):
                return value
    return None


async def test_migration_0002_matches_the_models(database: Database) -> None:
    def compare(connection: object) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, models.Base.metadata)

    async with database.engine.connect() as connection:
        diffs = await connection.run_sync(compare)
    mine = [d for d in diffs if _table_of(d) in SHOP_TABLES]
    assert mine == []
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert SHOP_TABLES <= names
