"""Who may do what: roles are re-checked on every action, never taken from the request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kernel.errors import NotAllowed, NotFound
from models import Community, Membership, Person

RANK = {"resident": 0, "volunteer": 1, "worker": 2}


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("error.no_person")
    return person


def get_community(session: Session, community_id: int) -> Community:
    community = session.get(Community, community_id)
    if community is None:
        raise NotFound("error.no_community")
    # Held for the session's life: the identity map holds objects weakly, so the next part of the
    # turn that asks (a /balance asks three times) would read the row again.
    session.info.setdefault("communities", {})[community_id] = community
    return community


def role_in(session: Session, person_id: int, community_id: int) -> str | None:
    """The person's role in the community; None when not a member. Unconfirmed volunteers count
    as residents until a worker confirms them."""
    row = (
        session.execute(
            select(Membership.role, Membership.confirmed).where(
                Membership.person_id == person_id, Membership.community_id == community_id
            )
        )
    ).first()
    return None if row is None else effective_role(row.role, row.confirmed)


def require_role(session: Session, person_id: int, community_id: int, at_least: str) -> Person:
    """Admins may act everywhere; everyone else needs the role in that community."""
    person = get_person(session, person_id)
    if not person.is_admin:
        check_role(False, role_in(session, person_id, community_id), at_least)
    return person


def effective_role(role: str | None, confirmed: bool | None) -> str | None:
    """`role_in` for a membership row already fetched (role None: not a member)."""
    return role if role is None or confirmed else "resident"


def has_role(is_admin: bool, role: str | None, at_least: str) -> bool:
    """The one rank comparison: admins pass everywhere, members by rank, non-members never."""
    return is_admin or (role is not None and RANK[role] >= RANK[at_least])


def check_role(is_admin: bool, role: str | None, at_least: str, *, awaiting: bool = False) -> None:
    """`require_role` for values already fetched, so a hot path can read them in its own query.
    `awaiting`: a registered volunteer not yet confirmed, told so rather than asked to register."""
    if not has_role(is_admin, role, at_least):
        raise NotAllowed(
            "error.awaiting_confirmation" if awaiting and at_least == "volunteer" else f"error.need_{at_least}"
        )


def require_admin(session: Session, person_id: int) -> Person:
    person = get_person(session, person_id)
    if not person.is_admin:
        raise NotAllowed("error.need_admin")
    return person
