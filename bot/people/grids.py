"""Grids (网格) and their coordinators (网格员): appointing and ending them, placing people in a
grid, and the list of a community's grids. Who may act where is decided in bot.kernel.access
(`staff_scope`), the one place every grid-scoped service asks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.kernel.access import (
    COORDINATORS_APPROVE,
    check_grid,
    coordinated_grids,
    get_community,
    get_person,
    require_role,
    require_scope,
    role_in,
)
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads
from bot.kernel.errors import InvalidInput, NotFound
from bot.messages.notify import notify
from models import Elder, Grid, GridCoordinator, Membership, Person

# Words that name the coordinator role in /appoint and /unappoint.
COORDINATOR_WORDS = frozenset({"网格员", "网格长", "coordinator", "grid"})


@dataclass(frozen=True)
class GridLine:
    grid_id: int
    name: str
    coordinators: tuple[str, ...]
    members: int
    elders: int


def grid_named(session: Session, community_id: int, name: str) -> Grid:
    """The community's grid of that name; refused with the names there are."""
    grid = session.scalar(select(Grid).where(Grid.community_id == community_id, Grid.name == name.strip()))
    if grid is None:
        names = session.scalars(
            select(Grid.name).where(Grid.community_id == community_id).order_by(Grid.id).limit(12)
        ).all()
        raise NotFound("grids.error.no_grid", grid=name.strip()[:32], names="、".join(names) or "—")
    return grid


class GridsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def appoint(self, actor_id: int, community_id: int, person_id: int, grid_names: list[str]) -> list[str]:
        """A worker or an admin makes a registered volunteer the coordinator of grids; the person
        is told. Appointing again to the same grid changes nothing. Returns the grids named."""
        if not grid_names:
            raise InvalidInput("grids.appoint_usage")

        def work(session: Session) -> list[str]:
            require_role(session, actor_id, community_id, "worker")
            grids = [grid_named(session, community_id, name) for name in dict.fromkeys(grid_names)]
            person = get_person(session, person_id)
            role = role_in(session, person_id, community_id)
            if role == "worker":
                raise InvalidInput("grids.error.worker_sees_all", name=person.display_name)
            if role != "volunteer":
                raise InvalidInput("grids.error.not_volunteer", name=person.display_name)
            have = coordinated_grids(session, person_id, community_id)
            new = [g for g in grids if g.id not in have]
            for grid in new:
                session.add(
                    GridCoordinator(
                        community_id=community_id,
                        grid_id=grid.id,
                        person_id=person_id,
                        appointed_by_id=actor_id,
                        appointed_at=self.clock.now(),
                    )
                )
                audit(
                    session,
                    self.clock,
                    "coordinator.appoint",
                    actor_id,
                    community_id,
                    "person",
                    person_id,
                    {"grid": grid.name},
                )
            if new:
                community = get_community(session, community_id)
                notify(
                    session,
                    self.clock,
                    person_id,
                    "grids.notify.appointed",
                    community=community.name,
                    grids="、".join(g.name for g in new),
                )
            return [g.name for g in grids]

        return self.db.transaction(work)

    def unappoint(self, actor_id: int, community_id: int, person_id: int, grid_names: list[str]) -> list[str]:
        """Ends the person's coordination of the grids named (all of them when none is named);
        they stay a volunteer and are told. Returns the grids ended."""

        def work(session: Session) -> list[str]:
            require_role(session, actor_id, community_id, "worker")
            person = get_person(session, person_id)
            rows = session.execute(
                select(GridCoordinator.id, Grid.name)
                .join(Grid, Grid.id == GridCoordinator.grid_id)
                .where(GridCoordinator.community_id == community_id, GridCoordinator.person_id == person_id)
                .order_by(GridCoordinator.id)
            ).all()
            wanted = set(grid_names)
            ending = [(row_id, name) for row_id, name in rows if not wanted or name in wanted]
            if not ending:
                raise InvalidInput("grids.error.not_coordinator", name=person.display_name)
            session.execute(delete(GridCoordinator).where(GridCoordinator.id.in_([i for i, _ in ending])))
            names = [name for _, name in ending]
            audit(
                session,
                self.clock,
                "coordinator.unappoint",
                actor_id,
                community_id,
                "person",
                person_id,
                {"grids": names},
            )
            community = get_community(session, community_id)
            notify(
                session,
                self.clock,
                person_id,
                "grids.notify.unappointed",
                community=community.name,
                grids="、".join(names),
            )
            return names

        return self.db.transaction(work)

    def place(self, actor_id: int, community_id: int, person_id: int, grid_name: str) -> str:
        """A worker or an admin puts a member in a grid of the community. Returns the grid."""

        def work(session: Session) -> str:
            require_role(session, actor_id, community_id, "worker")
            grid = grid_named(session, community_id, grid_name)
            membership = session.scalar(
                select(Membership).where(Membership.person_id == person_id, Membership.community_id == community_id)
            )
            if membership is None:
                raise NotFound("error.not_member")
            if membership.grid_id != grid.id:
                membership.grid_id = grid.id
                audit(
                    session, self.clock, "member.grid", actor_id, community_id, "person", person_id, {"grid": grid.name}
                )
            return grid.name

        return self.db.transaction(work)

    def set_coordinators_approve(self, actor_id: int, community_id: int, allowed: bool) -> None:
        """Whether coordinators approve the hours of their grid's volunteers (a community option)."""

        def work(session: Session) -> None:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            if bool((community.options or {}).get(COORDINATORS_APPROVE, False)) != allowed:
                community.options = {**(community.options or {}), COORDINATORS_APPROVE: allowed}
                audit(session, self.clock, "coordinators.approve", actor_id, community_id, details={"on": allowed})

        self.db.transaction(work)

    @reads
    def coordinates(self, person_id: int, community_id: int) -> bool:
        """Whether the person coordinates a grid of the community now."""
        with self.db.read() as session:
            return bool(coordinated_grids(session, person_id, community_id))

    @reads
    def overview(
        self, actor_id: int, community_id: int, page: int = 0, page_size: int = 30
    ) -> tuple[list[GridLine], int]:
        """The grids in view (all for workers and admins, their own for coordinators) with their
        coordinators and how many members and active elders each has; and how many grids in all."""
        with self.db.read() as session:
            scope = require_scope(session, actor_id, community_id)
            stmt = select(Grid.id, Grid.name).where(Grid.community_id == community_id)
            if not scope.everything:
                stmt = stmt.where(Grid.id.in_(scope.grids))
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            grids = session.execute(stmt.order_by(Grid.id).offset(page * page_size).limit(page_size)).all()
            ids = [gid for gid, _ in grids]
            for gid in ids:
                check_grid(scope, gid)
            members = dict(
                session.execute(
                    select(Membership.grid_id, func.count())
                    .where(Membership.community_id == community_id, Membership.grid_id.in_(ids))
                    .group_by(Membership.grid_id)
                ).all()
            )
            elders = dict(
                session.execute(
                    select(Elder.grid_id, func.count())
                    .where(Elder.community_id == community_id, Elder.grid_id.in_(ids), Elder.active.is_(True))
                    .group_by(Elder.grid_id)
                ).all()
            )
            coordinators: dict[int, list[str]] = {gid: [] for gid in ids}
            for gid, name in session.execute(
                select(GridCoordinator.grid_id, func.coalesce(Person.real_name, Person.display_name))
                .join(Person, Person.id == GridCoordinator.person_id)
                .where(GridCoordinator.community_id == community_id, GridCoordinator.grid_id.in_(ids))
                .order_by(GridCoordinator.id)
            ):
                coordinators[gid].append(name)
            lines = [
                GridLine(gid, name, tuple(coordinators[gid]), members.get(gid, 0), elders.get(gid, 0))
                for gid, name in grids
            ]
            return lines, total
