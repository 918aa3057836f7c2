"""Who may do what: roles are re-checked on every action, never taken from the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, Select, String, cast, func, select
from sqlalchemy.orm import Session

from bot.kernel.errors import NotAllowed, NotFound
from models import Community, GridCoordinator, Membership, Person

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


# --- grids (网格) ----------------------------------------------------------------------------
#
# The one rule for grid coordinators (网格员): a coordinator acts as a worker of the community
# inside the grids they coordinate and sees nothing outside them. Services ask `staff_scope` (or
# one of the `require_*` below) on every read and write that a coordinator may make; nothing in
# the chat decides it.

# The community option that lets coordinators approve the hours of their grid's volunteers
# (off by default: a worker decides, as before).
COORDINATORS_APPROVE = "coordinators_approve"


@dataclass(frozen=True)
class Scope:
    """The part of a community a member manages: all of it (its workers and the admins), or the
    grids they coordinate."""

    everything: bool
    grids: frozenset[int] = frozenset()

    def covers(self, grid_id: int | None) -> bool:
        return self.everything or (grid_id is not None and grid_id in self.grids)


EVERYTHING = Scope(True)


def coordinating(*columns: Any) -> Select:
    """`columns` of the coordinators in office: appointed to a grid and a confirmed volunteer of
    its community (a coordinator made a worker sees everything anyway; one who left, nothing)."""
    return (
        select(*columns)
        .select_from(GridCoordinator)
        .join(
            Membership,
            (Membership.person_id == GridCoordinator.person_id)
            & (Membership.community_id == GridCoordinator.community_id),
        )
        .where(Membership.role == "volunteer", Membership.confirmed.is_(True))
    )


def coordinated_grids(session: Session, person_id: int, community_id: int) -> frozenset[int]:
    """The grids of the community the person coordinates."""
    return frozenset(
        session.scalars(
            coordinating(GridCoordinator.grid_id).where(
                GridCoordinator.person_id == person_id, GridCoordinator.community_id == community_id
            )
        )
    )


def coordinated_grids_column(person_id: int, community_id: Any) -> ScalarSelect[str | None]:
    """`coordinated_grids` as a column of a larger query, the grid ids joined by commas (read it
    with `grid_set`): a hot path asks it in the query it makes anyway."""
    return (
        coordinating(func.aggregate_strings(cast(GridCoordinator.grid_id, String), ","))
        .where(GridCoordinator.person_id == person_id, GridCoordinator.community_id == community_id)
        .scalar_subquery()
    )


def grid_set(joined: str | None) -> frozenset[int]:
    return frozenset(int(g) for g in joined.split(",")) if joined else frozenset()


def grid_coordinators(session: Session, community_id: int, grid_id: int | None) -> list[int]:
    """Who coordinates the grid (person ids, in the order appointed): whoever else hears of its
    elders and people (alerts) calls this. None (no grid): nobody."""
    if grid_id is None:
        return []
    return list(
        session.scalars(
            coordinating(GridCoordinator.person_id)
            .where(GridCoordinator.community_id == community_id, GridCoordinator.grid_id == grid_id)
            .order_by(GridCoordinator.id)
        )
    )


def staff_scope(session: Session, person_id: int, community_id: int) -> Scope | None:
    """What the person manages in the community: everything (a worker, an admin), their grids (a
    coordinator), or None (anyone else)."""
    person = get_person(session, person_id)
    if person.is_admin or role_in(session, person_id, community_id) == "worker":
        return EVERYTHING
    grids = coordinated_grids(session, person_id, community_id)
    return Scope(False, grids) if grids else None


def require_scope(session: Session, person_id: int, community_id: int) -> Scope:
    """`staff_scope`, refusing anyone who manages nothing there as a non-worker is refused."""
    scope = staff_scope(session, person_id, community_id)
    if scope is None:
        raise NotAllowed("error.need_worker")
    return scope


def check_grid(scope: Scope, grid_id: int | None) -> None:
    """Refuses what lies outside the scope, naming nothing of it."""
    if not scope.covers(grid_id):
        raise NotAllowed("error.not_your_grid")


def member_grid(session: Session, person_id: int, community_id: int) -> int | None:
    return session.scalar(
        select(Membership.grid_id).where(Membership.person_id == person_id, Membership.community_id == community_id)
    )


def require_person_in_scope(session: Session, scope: Scope, person_id: int, community_id: int) -> None:
    """A coordinator acts for the members of their grids only; workers and admins for anyone."""
    if not scope.everything:
        check_grid(scope, member_grid(session, person_id, community_id))


def coordinators_approve(community: Community) -> bool:
    return bool((community.options or {}).get(COORDINATORS_APPROVE, False))
