"""The visit tables as the models declare them are the tables migration 0003 builds."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import models

VISIT_TABLES = ("elders", "elder_volunteers", "visit_records", "visit_alerts")


def test_the_visit_tables_match_their_migration(sqlite_template: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_template}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, models.Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(table in repr(d) for table in VISIT_TABLES)] == []
