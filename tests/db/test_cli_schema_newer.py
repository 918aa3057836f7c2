"""Rolling back the code without the database: an older release started on a schema a newer
release migrated says so in one line (and what to do), never a traceback."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.kernel.migrate import upgrade
from bot.kernel.settings import get_settings
from bot.runtime.cli import main


@pytest.mark.parametrize("locale, expected", [(None, "比这个版本的爱心银行新"), ("en", "is newer than this release")])
def test_an_older_release_on_a_newer_schema_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    locale: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    asyncio.run(upgrade(url))
    with sqlite3.connect(tmp_path / "bank.db") as db:  # as a newer release leaves it
        db.execute("DELETE FROM alembic_version")
        db.execute("INSERT INTO alembic_version (version_num) VALUES ('0099_future')")
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", url)
    if locale:
        monkeypatch.setenv("LOVEBANK_LOCALE", locale)
    else:
        monkeypatch.delenv("LOVEBANK_LOCALE", raising=False)
    get_settings.cache_clear()
    try:
        for command in (["db", "upgrade"], ["parked"]):
            assert main(command) == 3
            err = capsys.readouterr().err
            assert err.startswith("lovebank: ") and expected in err and "0099_future" in err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    finally:
        get_settings.cache_clear()
