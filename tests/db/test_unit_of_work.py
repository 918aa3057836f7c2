"""`Database.unit`: a dialog turn's one transaction. Service calls inside join it; it commits
whole or not at all; a refusal inside undoes only that call's writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kernel.clock import FixedClock
from bot.kernel.db import ReadOnlyTurn, claim
from bot.kernel.errors import NotAllowed
from bot.services import Services
from models import JobRun

pytestmark = pytest.mark.db


def jobs(services: Services) -> list[str]:
    with services.db.read() as session:
        return sorted(session.scalars(select(JobRun.job)))


async def test_a_refusal_inside_a_unit_undoes_only_its_own_writes(services: Services, clock: FixedClock) -> None:
    db, now = services.db, clock.now()

    def turn(session: Session) -> list[str]:
        db.transaction(lambda s: claim(s, "kept", "x", "p", now))

        def refused(s: Session) -> None:
            claim(s, "undone", "x", "p", now)
            raise NotAllowed("error.need_admin")

        with pytest.raises(NotAllowed):
            db.transaction(refused)  # the turn answers the refusal and goes on
        db.transaction(lambda s: claim(s, "after", "x", "p", now))
        with db.read() as s:  # a read inside the unit sees what the unit wrote
            return sorted(s.scalars(select(JobRun.job)))

    assert await db.run(db.unit, turn) == ["after", "kept"]
    assert jobs(services) == ["after", "kept"]


async def test_a_unit_commits_whole_or_not_at_all(services: Services, clock: FixedClock) -> None:
    db, now = services.db, clock.now()

    def crashes(session: Session) -> None:
        db.transaction(lambda s: claim(s, "first", "x", "p", now))
        db.transaction(lambda s: claim(s, "second", "x", "p", now))
        raise RuntimeError("the process dies here")

    with pytest.raises(RuntimeError):
        await db.run(db.unit, crashes)
    assert jobs(services) == []


async def test_a_read_only_unit_refuses_to_write(services: Services, clock: FixedClock) -> None:
    db, now = services.db, clock.now()
    with pytest.raises(ReadOnlyTurn):
        await db.run_read(
            db.unit, lambda session: db.transaction(lambda s: claim(s, "no", "x", "p", now)), writes=False
        )
    assert jobs(services) == []
