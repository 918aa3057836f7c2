"""Outbound notifications, written in the same transaction as their cause (an outbox):
channels deliver them later in each person's language."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from models import Membership, Notification, Person


async def notify(
    session: AsyncSession, clock: Clock, person_id: int, key: str, *, coalesce: str | None = None, **params: Any
) -> None:
    session.add(Notification(
        person_id=person_id, key=key, params=params, coalesce_key=coalesce, created_at=clock.now()
    ))


async def notify_workers(
    session: AsyncSession, clock: Clock, community_id: int, key: str, *, coalesce: str | None = None,
    exclude: int | None = None, **params: Any,
) -> None:
    workers = await session.scalars(
        select(Membership.person_id).where(Membership.community_id == community_id, Membership.role == "worker")
    )
    for worker_id in workers:
        if worker_id != exclude:
            await notify(session, clock, worker_id, key, coalesce=coalesce, **params)


async def notify_admins(session: AsyncSession, clock: Clock, key: str, **params: Any) -> None:
    for admin_id in await session.scalars(select(Person.id).where(Person.is_admin.is_(True))):
        await notify(session, clock, admin_id, key, **params)
