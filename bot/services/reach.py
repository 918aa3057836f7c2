"""Whether a person can be reached on a channel: when they last wrote (WeChat lets an account
write back for 48 hours after a person's message) and whether they left (unfollowed). Called
inside the transaction of the turn or event that tells us, so it holds exactly when that does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import Database
from models import Identity


async def wrote(session: AsyncSession, clock: Clock, channel: str, external_id: str) -> None:
    """The person wrote to us: reachable again, and the reply window opens now."""
    await session.execute(
        update(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        .values(last_message_at=clock.now(), unreachable_at=None)
    )


async def left(session: AsyncSession, clock: Clock, channel: str, external_id: str) -> None:
    """The person unfollowed: their notifications wait (nothing is lost) until they come back."""
    await session.execute(
        update(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        .values(unreachable_at=clock.now())
    )


async def wrote_within(db: Database, clock: Clock, channel: str, external_id: str, window: timedelta) -> bool:
    async with db.read() as uow:
        last = await uow.session.scalar(
            select(Identity.last_message_at).where(Identity.channel == channel, Identity.external_id == external_id)
        )
    return last is not None and clock.now() - last < window
