"""The schema comes from `alembic upgrade head`, never create_all, and the models and the
migrations must agree: autogenerate's comparison of a migrated database with the models is empty."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

import models
from bot.kernel.db import make_engine
from bot.kernel.migrate import ROOT, alembic_config, check_foreign_keys, foreign_keys_off, upgrade
from bot.services import Services
from tests.conftest import T0


def _diff(connection: Connection, metadata: MetaData) -> list:
    # The same comparison options as migrations/env.py uses for autogenerate.
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def _kinds(diff: list) -> set[str]:
    # Column modifications come grouped in a list per column; the rest are plain tuples.
    return {entry[0][0] if isinstance(entry, list) else entry[0] for entry in diff}


def _with_changes(add_table: bool = False, add_column: bool = False, widen_phone: bool = False) -> MetaData:
    """A copy of the models' metadata with a deliberate drift."""
    copy = MetaData(naming_convention=models.Base.metadata.naming_convention)
    for table in models.Base.metadata.tables.values():
        table.to_metadata(copy)
    if add_table:
        Table("not_migrated", copy, Column("id", Integer, primary_key=True))
    if add_column:
        copy.tables["people"].append_column(Column("nickname", String(20), nullable=True))
    if widen_phone:
        copy.tables["people"].c.phone.type = String(64)
    return copy


async def _run(url: str, fn, *args):
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return fn(connection, *args)
    finally:
        engine.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    assert await _run(database_url, _diff, models.Base.metadata) == []


async def test_the_agreement_check_notices_drift(database_url: str) -> None:
    """A check that cannot fail proves nothing: each kind of drift must show up."""
    assert _kinds(await _run(database_url, _diff, _with_changes(add_table=True))) == {"add_table"}
    assert _kinds(await _run(database_url, _diff, _with_changes(add_column=True))) == {"add_column"}
    assert _kinds(await _run(database_url, _diff, _with_changes(widen_phone=True))) == {"modify_type"}


async def test_a_column_only_in_the_database_is_noticed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            # DDL inside a transaction that is rolled back: both databases support that.
            transaction = connection.begin()
            connection.execute(text("ALTER TABLE people ADD COLUMN nickname VARCHAR(20)"))
            diff = _diff(connection, models.Base.metadata)
            transaction.rollback()
            assert [d[0] for d in diff] == ["remove_column"] and diff[0][3].name == "nickname"
            assert _diff(connection, models.Base.metadata) == []
    finally:
        engine.dispose()


async def test_a_migrated_database_is_at_every_head(database_url: str) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())

    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    assert heads and await _run(database_url, current) == heads
    await upgrade(database_url)  # again: nothing to do, nothing changes
    assert await _run(database_url, current) == heads
    assert await _run(database_url, _diff, models.Base.metadata) == []


async def test_an_empty_sqlite_file_migrates_to_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    await upgrade(url)
    tables = await _run(url, lambda c: set(inspect(c).get_table_names()))
    assert tables == set(models.Base.metadata.tables) | {"alembic_version"}
    assert await _run(url, _diff, models.Base.metadata) == []


async def test_sqlite_downgrades_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    await upgrade(url)
    config = alembic_config(url)

    def down(connection: Connection) -> set[str]:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return set(inspect(connection).get_table_names())

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            assert down(connection) <= {"alembic_version"}
    finally:
        engine.dispose()
    await upgrade(url)
    assert await _run(url, _diff, models.Base.metadata) == []


def _checks_in(connection: Connection) -> dict[str, set[str]]:
    found = inspect(connection)
    return {t: {c["name"] for c in found.get_check_constraints(t)} for t in found.get_table_names()}


async def test_status_and_kind_checks_are_in_the_database_and_refuse_a_bad_value(database_url: str) -> None:
    """Alembic's comparison leaves CHECK constraints out: the models' are compared by name here,
    and a value outside the list is refused by the database itself."""
    wanted = {
        t.name: {c.name for c in t.constraints if isinstance(c, CheckConstraint)}
        for t in models.Base.metadata.tables.values()
    }
    have = await _run(database_url, _checks_in)
    assert {t: n for t, n in wanted.items() if n} == {t: n for t, n in have.items() if n}
    assert "ck_service_logs_status" in wanted["service_logs"]

    def insert(connection: Connection, status: str, replied: str | None) -> None:
        transaction = connection.begin()
        try:
            connection.execute(
                text(
                    "INSERT INTO inbox (channel, platform_id, sender, payload, status, attempts, reply_sent, replied,"
                    " received_at) VALUES ('console', :pid, 'a', '{}', :status, 0, 0, :replied, '2026-11-27 12:00:00')"
                ),
                {"pid": f"{status}-{replied}", "status": status, "replied": replied},
            )
        finally:
            transaction.rollback()

    await _run(database_url, insert, "new", None)  # the good values go in (rolled back)
    await _run(database_url, insert, "done", "passive")
    for status, replied in (("bogus", None), ("new", "maybe")):
        with pytest.raises(IntegrityError):
            await _run(database_url, insert, status, replied)


async def test_the_checks_go_onto_a_database_with_rows(services: Services) -> None:
    """Revision 0013 on a database in use: the rows the services wrote satisfy every CHECK, and
    on SQLite the batch copy of tables other rows point at keeps the foreign keys whole."""
    from tests.shop_helpers import fund
    from tests.visits_world import roster_world

    world = await roster_world(services)
    elder = next(iter(world.elders.values()))
    await services.run(services.visits.record, world.volunteer, elder, kind="visit", outcome="needs_help", minutes=60)
    await services.run(services.visits.record, world.worker, elder, kind="call", outcome="not_home")
    await services.run(
        services.hours.submit,
        world.volunteer,
        world.community_id,
        category_id=next(iter(world.categories.values())),
        service_date=T0.date(),
        minutes=30,
    )
    await fund(services, world.world, world.volunteer, 100)  # accounts, transfers and a hold
    item = await services.run(services.shop.add_item, world.worker, world.community_id, "大米", 30, 10)
    await services.run(services.shop.redeem, world.volunteer, world.community_id, item.id, 1)
    spec = importlib.util.spec_from_file_location("m0013", ROOT / "migrations/versions/0013_check_constraints.py")
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)
    tables = [t.name for t in models.Base.metadata.sorted_tables]

    def counts(connection: Connection) -> dict[str, int]:
        return {t: connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}

    def down_and_up(connection: Connection) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        # As bot.kernel.migrate runs a migration: foreign keys off on SQLite, checked before the commit.
        with foreign_keys_off(connection), connection.begin():
            before = counts(connection)
            context = MigrationContext.configure(
                connection, opts={"render_as_batch": connection.dialect.name == "sqlite"}
            )
            with Operations.context(context):
                revision.downgrade()
                between = _checks_in(connection)
                revision.upgrade()
            check_foreign_keys(connection)
        return before, counts(connection), between

    before, after, between = await _run(services.db.url, down_and_up)
    assert before == after and before["visit_records"] == 2 and before["service_logs"] == 2
    # The downgrade took away every check 0013 added (tables made later bring their own, and
    # later revisions may add checks on columns of their own).
    added = {t: {f"ck_{t}_{c}" for c in columns} for t, columns in revision.CHECKS.items()}
    assert not any(found & added[t] for t, found in between.items() if t in added)
    assert await _run(services.db.url, _diff, models.Base.metadata) == []
    assert all(n for t, n in (await _run(services.db.url, _checks_in)).items() if t in revision.CHECKS)
