"""Alembic environment: batch mode on SQLite so ALTERs work there too."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import models
from bot.kernel.db import make_engine

config = context.config
target_metadata = models.Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from bot.kernel.settings import get_settings

        url = get_settings().database_url
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    from bot.kernel.migrate import check_foreign_keys, foreign_keys_off

    engine = make_engine(_url())
    with engine.connect() as connection, foreign_keys_off(connection):
        _configure(connection)
        check_foreign_keys(connection)
    engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # called from bot.kernel.migrate inside a running connection
        _configure(connection)
    elif context.is_offline_mode():
        context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        _run_online()


run()
