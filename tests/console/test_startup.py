"""Start-up: the chat path finds a database at every head with one query and never loads
Alembic; a database that is behind is still migrated before the first reply. Each run is a
fresh process, so what it imported is its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from bot.kernel.migrate import alembic_config, current_revisions, head_revisions

# The chat as `lovebank chat --as` runs it, then what the process had imported.
CHAT = (
    "import sys; from bot.runtime.cli import main; code = main(['chat', '--as', 'volunteer1']); "
    "print('alembic imported:', 'alembic' in sys.modules, 'PIL imported:', 'PIL' in sys.modules); "
    "sys.exit(code)"
)


def _chat(tmp_path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOVEBANK_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "LOVEBANK_LOCALE": "en"}
    env.pop("LOVEBANK_ADMINS", None)
    out = subprocess.run(
        [sys.executable, "-c", CHAT],
        input="/balance\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out


def _revisions(db: Path) -> frozenset[str]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return current_revisions(connection)
    finally:
        engine.dispose()


def test_heads_read_from_the_scripts_are_alembics_heads() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    # A merge revision (a tuple of parents) is in the tree, so the parser must read tuples too.
    assert any(isinstance(r.down_revision, tuple) for r in script.walk_revisions())
    assert heads and head_revisions() == frozenset(heads)


def test_a_database_at_every_head_starts_without_alembic(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "current.db"
    shutil.copy(sqlite_template, db)
    assert _revisions(db) == head_revisions()
    out = _chat(tmp_path, db)
    assert out.stdout.strip().splitlines()[-1] == "alembic imported: False PIL imported: False"
    assert len(out.stdout.strip().splitlines()) > 1  # the reply to /balance came before it


def test_a_database_behind_is_migrated_before_the_chat(tmp_path: Path) -> None:
    db = tmp_path / "behind.db"
    engine = create_engine(f"sqlite:///{db}")
    config = alembic_config(f"sqlite:///{db}")
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")  # the foundation only: every feature branch is missing
    finally:
        engine.dispose()
    assert _revisions(db) == {"0001"}
    out = _chat(tmp_path, db)
    assert "alembic imported: True" in out.stdout
    assert _revisions(db) == head_revisions()


def test_a_new_empty_database_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    out = _chat(tmp_path, db)
    assert "alembic imported: True" in out.stdout
    assert _revisions(db) == head_revisions()
