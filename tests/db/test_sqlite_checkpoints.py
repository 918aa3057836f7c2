"""SQLite: the WAL goes back into the database file on a thread of its own, every so many
commits, never inside a turn's commit (the one that crossed SQLite's own threshold waited 5-15 ms)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.kernel.db import Checkpoints
from bot.services import Services


async def test_commits_leave_the_checkpoint_to_its_own_thread(services: Services) -> None:
    db = services.db
    if not db.sqlite:
        pytest.skip("SQLite's write-ahead log")
    assert db.checkpoints is not None
    file = Path(db.engine.url.database or "")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0  # no commit does it
    before = file.stat().st_size
    for n in range(Checkpoints.EVERY - 1):
        await services.run(services.people.identify, "console", f"neighbour{n}", display_name="邻居" * 20)
    assert file.stat().st_size == before  # everything written is in the WAL still
    await services.run(services.people.identify, "console", "the-last-one", display_name="邻居")
    running = db.checkpoints._running
    assert running is not None
    await asyncio.wrap_future(running)
    assert file.stat().st_size > before  # the checkpoint copied the pages into the file
