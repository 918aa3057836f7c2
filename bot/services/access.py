"""Who may do what: roles are re-checked on every action, never taken from the request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotAllowed, NotFound
from models import Membership, Person

RANK = {"resident": 0, "volunteer": 1, "worker": 2}


async def get_person(session: AsyncSession, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("error.no_person")
    return person


async def role_in(session: AsyncSession, person_id: int, community_id: int) -> str | None:
    """The person's role in the community; None when not a member. Unconfirmed volunteers count
    as residents until a worker confirms them."""
    row = (await session.execute(
        select(Membership.role, Membership.confirmed).where(
            Membership.person_id == person_id, Membership.community_id == community_id
        )
    )).first()
    if row is None:
        return None
    return row.role if row.confirmed else "resident"


async def require_role(session: AsyncSession, person_id: int, community_id: int, at_least: str) -> Person:
    """Admins may act everywhere; everyone else needs the role in that community."""
    person = await get_person(session, person_id)
    if person.is_admin:
        return person
    role = await role_in(session, person_id, community_id)
    if role is None or RANK[role] < RANK[at_least]:
        raise NotAllowed(f"error.need_{at_least}")
    return person


async def require_admin(session: AsyncSession, person_id: int) -> Person:
    person = await get_person(session, person_id)
    if not person.is_admin:
        raise NotAllowed("error.need_admin")
    return person
