"""The elder roster (花名册) of a community: import from CSV or XLSX, add, edit, assign
volunteers, retire, export; and who may see what of an elder.

Privacy: addresses, phones and emergency contacts are personal information. Workers of the
elder's community and admins see them all; a volunteer sees the address of the elders assigned
to them (they have to find the door) once the elder's consent is on record (how a worker obtained
it: in person, by phone, from family), and never a phone or an emergency contact; nobody else
sees an elder at all. The rule is applied here, so every channel and every list obeys it."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.orm import Session

from bot.elders.cadence import Due, VisitCadence, due_of, local_date
from bot.kernel.access import (
    EVERYTHING,
    Scope,
    check_grid,
    coordinated_grids_column,
    get_community,
    grid_coordinators,
    grid_set,
    require_person_in_scope,
    require_role,
    require_scope,
    role_in,
)
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month, day_start, days_after, zone
from bot.kernel.db import Database, reads
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.kernel.i18n import T, Text
from bot.kernel.spreadsheet import csv_text
from bot.messages.notify import notify
from bot.people.roster import (
    COLUMNS,
    HEADER_ALIASES,
    REQUIRED,
    ElderRow,
    clean_address,
    clean_birth_year,
    clean_consent,
    clean_contact,
    clean_elder_name,
    clean_elder_phone,
    clean_grid,
    clean_risk,
    clean_row,
    clean_yes_no,
    import_key,
    read_table,
    split_handles,
)
from bot.people.service import PeopleService
from models import Community, Consent, Elder, ElderVolunteer, Grid, Identity, Membership, Person, VisitRecord
from models.audit import CONSENT_WAYS as _WAYS

CHANGES_SHOWN = 200  # elders an import report names one by one (a preview shows them)
CHINESE_HEADERS = {column: title for title, column in reversed(HEADER_ALIASES.items())}

EDITABLE = {
    "name": "name",
    "姓名": "name",
    "birth_year": "birth_year",
    "出生年份": "birth_year",
    "address": "address",
    "地址": "address",
    "grid": "grid",
    "网格": "grid",
    "lives_alone": "lives_alone",
    "独居": "lives_alone",
    "risk": "risk",
    "风险": "risk",
    "phone": "phone",
    "电话": "phone",
    "emergency_contact": "emergency_contact",
    "紧急联系人": "emergency_contact",
    "worker": "worker",
    "社工": "worker",
    "active": "active",
    "在册": "active",
}


@dataclass(frozen=True)
class ElderView:
    id: int
    community_id: int
    name: str
    birth_year: int
    age: int
    grid: str | None
    lives_alone: bool
    risk: str
    address: str | None  # None for a volunteer while the elder's consent is not on record
    phone: str | None  # None when the viewer may not see it
    emergency_contact: str | None
    worker_id: int | None
    worker_name: str | None
    volunteers: tuple[str, ...]
    active: bool
    flagged: bool
    last_visit: date | None  # local dates in the community's time zone
    last_call: date | None
    due: Due
    full: bool  # the viewer sees contact details
    consent: str | None = None  # how the elder's consent was obtained (in_person, phone, family)

    @property
    def ref(self) -> str:
        return f"E{self.id}"


@dataclass(frozen=True)
class VisitCalendar:
    """A month's visits and calls in a community, day by day (the desk's calendar)."""

    month: Month
    today: date
    visits: dict[date, int]  # visits recorded on that local day (any outcome)
    calls: dict[date, int]


@dataclass(frozen=True)
class Problem:
    row: int  # 1 is the header; 0 is the file as a whole
    column: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    problems: list[Problem] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0
    grids_created: int = 0
    not_in_file: int = 0  # active elders the file does not mention (left as they are)
    # (created, updated or reactivated; the elder): the first CHANGES_SHOWN
    changes: list[tuple[str, str]] = field(default_factory=list)
    applied: bool = True  # False: a preview (dry run), nothing was written

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> Text:
        """The report as people read it: every problem by row and column, or what changed."""
        if self.problems:
            return T("visits.import.failed", count=len(self.problems), lines=[_problem_text(p) for p in self.problems])

        def extra(key: str, count: int) -> Text | str:
            return T(key, count=count) if count else ""

        return T(
            "visits.import.done" if self.applied else "visits.import.preview",
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            reactivated=extra("visits.import.reactivated", self.reactivated),
            grids=extra("visits.import.grids", self.grids_created),
            missing=extra("visits.import.missing", self.not_in_file),
        )


def _problem_text(p: Problem) -> Text:
    problem = T(p.key, **p.params)
    if p.row == 0:
        return problem
    if p.row == 1:
        return T("visits.import.problem_header", column=p.column, problem=problem)
    return T("visits.import.problem", row=p.row, column=p.column, problem=problem)


# --- who may see and do what -----------------------------------------------------------------


def get_elder(session: Session, elder_id: int) -> Elder:
    elder = session.get(Elder, elder_id)
    if elder is None:
        raise NotFound("visits.error.no_elder", ref=f"E{elder_id}")
    return elder


def is_assigned(session: Session, elder_id: int, person_id: int) -> bool:
    return session.get(ElderVolunteer, (elder_id, person_id)) is not None


def viewer(session: Session, person_id: int, community_id: int) -> tuple[Community, Scope | None, str | None]:
    """The community, what part of it the person manages (all of it: its workers and admins;
    their grids: a coordinator; None: a volunteer, who sees only their own elders, without
    contacts), and their role there; in one query, as every list starts with it. Anyone else is
    refused. A scope is the one rule of bot.kernel.access."""
    row = (
        session.execute(
            select(
                Community,
                Person.is_admin,
                Membership.role,
                Membership.confirmed,
                coordinated_grids_column(person_id, Community.id),
            )
            .select_from(Community)
            .join(Person, Person.id == person_id)
            .outerjoin(Membership, and_(Membership.person_id == Person.id, Membership.community_id == Community.id))
            .where(Community.id == community_id)
        )
    ).first()
    if row is None:
        raise NotFound("error.no_community")
    community, is_admin, member_role, confirmed, coordinated = row  # member_role None: no membership
    role: str | None = member_role if confirmed else ("resident" if member_role else None)  # unconfirmed: residents
    if is_admin or role == "worker":
        return community, EVERYTHING, role
    if role == "volunteer":
        grids = grid_set(coordinated)
        return community, Scope(False, grids) if grids else None, role
    raise NotAllowed("visits.error.not_your_community")


def told_of_elder(session: Session, elder: Elder, actor_id: int, *, assigned: bool = True) -> list[tuple[int, str]]:
    """Who hears of the elder at once: their worker (with `assigned`; a call for help), or every
    worker of the community when none is assigned or for a wellbeing alert, and the coordinators
    of the elder's grid; never the one who recorded it."""
    stmt = (
        select(Person.id, Person.display_name)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.community_id == elder.community_id, Membership.role == "worker", Person.id != actor_id)
    )
    if assigned and elder.worker_id is not None:
        stmt = stmt.where(Person.id == elder.worker_id)
    told = [(pid, name) for pid, name in session.execute(stmt.order_by(Person.id))]
    coordinators = [pid for pid in grid_coordinators(session, elder.community_id, elder.grid_id) if pid != actor_id]
    if coordinators:
        names = dict(session.execute(select(Person.id, Person.display_name).where(Person.id.in_(coordinators))).all())
        told += [(pid, names[pid]) for pid in coordinators if pid not in {p for p, _ in told}]
    return told


def elder_access(session: Session, person_id: int, elder: Elder) -> tuple[bool, str | None]:
    """Whether the person sees the elder's contact details, and their role in the elder's
    community; refused unless they may see the elder at all (a worker of the community, an
    admin, the coordinator of the elder's grid, or an assigned volunteer)."""
    _, scope, role = viewer(session, person_id, elder.community_id)
    if scope is not None and scope.covers(elder.grid_id):
        return True, role
    if not is_assigned(session, elder.id, person_id):
        raise NotAllowed("visits.error.not_yours", ref=f"E{elder.id}")
    return False, role


def manage_elder(session: Session, actor_id: int, elder: Elder) -> Scope:
    """A worker or an admin, or the coordinator of the elder's grid; anyone else is refused."""
    scope = require_scope(session, actor_id, elder.community_id)
    check_grid(scope, elder.grid_id)
    return scope


def consents_of(session: Session, elder_ids: Sequence[int]) -> dict[int, str]:
    """How each elder's consent was obtained (the first on record), for the elders that have one."""
    found: dict[int, str] = {}
    for start in range(0, len(elder_ids), 500):  # bounded IN lists
        for elder_id, way in session.execute(
            select(Consent.elder_id, Consent.obtained)
            .where(Consent.elder_id.in_(elder_ids[start : start + 500]))
            .order_by(Consent.id)
        ):
            assert elder_id is not None  # the IN list above matched it
            found.setdefault(elder_id, way)
    return found


def record_elder_consent(
    session: Session, clock: Clock, version: str, elder: Elder, way: str, by_id: int | None
) -> bool:
    """An elder's consent as a worker obtained it; False (nothing written) when one is on record."""
    if session.scalar(select(Consent.id).where(Consent.elder_id == elder.id).limit(1)) is not None:
        return False
    session.add(
        Consent(
            community_id=elder.community_id,
            elder_id=elder.id,
            person_id=elder.person_id,
            kind="elder",
            notice_version=version,
            obtained=way,
            by_id=by_id,
            created_at=clock.now(),
        )
    )
    session.flush()  # the views read it back in this transaction (no autoflush)
    audit(session, clock, "consent.elder", by_id, elder.community_id, "elder", elder.id, {"how": way})
    return True


def require_worker(session: Session, actor_id: int | None, community_id: int) -> None:
    if actor_id is not None:  # None is the operator at the command line
        require_role(session, actor_id, community_id, "worker")


class ElderRoster:
    def __init__(self, db: Database, clock: Clock, people: PeopleService) -> None:
        self.db, self.clock, self.people = db, clock, people

    # --- import ---------------------------------------------------------------------------

    def community_named(self, name: str | None) -> int:
        """The community to import into: by name, or the only one there is."""
        with self.db.uow() as session:
            known = (session.execute(select(Community.id, Community.name).order_by(Community.id))).all()
        found = [c for c in known if c.name == name] if name else known
        if len(found) != 1:
            raise NotFound("visits.error.pick_community", names="、".join(n for _, n in known) or "—")
        return found[0].id

    def import_roster(
        self, actor_id: int | None, community_id: int, filename: str, content: bytes, *, dry_run: bool = False
    ) -> ImportReport:
        """Check the whole file first; any problem and nothing is imported. Rows match elders
        already on the roster by name and birth year, so importing again updates them. A dry run
        (the desk's preview) does all of it in a savepoint rolled back: the report says what
        importing would change, and nothing is written or audited."""
        try:
            table = read_table(filename, content)
        except InvalidInput as exc:
            return ImportReport([Problem(0, "", exc.key, exc.params)])

        def work(session: Session) -> ImportReport:
            require_worker(session, actor_id, community_id)
            community = get_community(session, community_id)
            problems = _header_problems(table.header, table.raw_header)
            if problems:
                return ImportReport(problems)
            # Problems name each column as the file does (出生年份, not birth_year).
            shown = {c: title for c, title in zip(table.header, table.raw_header, strict=True) if c}
            this_year = self.clock.community(community.timezone).today().year
            rows: list[tuple[ElderRow, int | None, list[int]]] = []
            first_row: dict[str, int] = {}
            people: dict[str, tuple[int, str | None] | None] = {}
            for number, cells in table.rows:
                values = {c: (cells[i] if i < len(cells) else "") for i, c in enumerate(table.header) if c}
                row, found = clean_row(values, this_year)
                if row is not None and row.key in first_row:
                    found.append(("name", InvalidInput("visits.import.duplicate", row=first_row[row.key])))
                elif row is not None:
                    first_row[row.key] = number
                worker = values.get("worker", "").strip().lstrip("@") or None
                worker_id, volunteer_ids, unknown = self._people_of(
                    session, community_id, worker, split_handles(values.get("volunteers", "")), people
                )
                found.extend(unknown)
                problems.extend(Problem(number, shown.get(column, column), p.key, p.params) for column, p in found)
                if not found and row is not None:
                    rows.append((row, worker_id, volunteer_ids))
            if problems:
                return ImportReport(problems)
            if dry_run:
                with session.begin_nested() as preview:
                    report = self._write_roster(session, community_id, rows, actor_id)
                    preview.rollback()
                return dataclasses.replace(report, applied=False)
            report = self._write_roster(session, community_id, rows, actor_id)
            audit(
                session,
                self.clock,
                "roster.import",
                actor_id,
                community_id,
                details={
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                },
            )
            return report

        return self.db.transaction(work)

    def _people_of(
        self,
        session: Session,
        community_id: int,
        worker: str | None,
        volunteers: Sequence[str],
        cache: dict[str, tuple[int, str | None] | None],
    ) -> tuple[int | None, list[int], list[tuple[str, InvalidInput]]]:
        """The worker and volunteers named by handles, as people of this community, or the problems."""

        def lookup(handle: str) -> tuple[int, str | None] | None:
            key = handle.casefold()
            if key not in cache:
                found = self.people.find(session, community_id, handle)
                cache[key] = (
                    (found[0].person_id, found[0].role) if len(found) == 1 else ((0, "ambiguous") if found else None)
                )
            return cache[key]

        problems: list[tuple[str, InvalidInput]] = []
        worker_id = None
        if worker:
            found = lookup(worker)
            if found is None:
                problems.append(("worker", InvalidInput("visits.field.unknown_handle", handle=worker[:32])))
            elif found[1] == "ambiguous":
                problems.append(("worker", InvalidInput("error.ambiguous_name", name=worker[:32])))
            elif found[1] != "worker":
                problems.append(("worker", InvalidInput("visits.field.not_worker", handle=worker[:32])))
            else:
                worker_id = found[0]
        volunteer_ids: list[int] = []
        for handle in volunteers:
            found = lookup(handle)
            if found is None:
                problems.append(("volunteers", InvalidInput("visits.field.unknown_handle", handle=handle[:32])))
            elif found[1] == "ambiguous":
                problems.append(("volunteers", InvalidInput("error.ambiguous_name", name=handle[:32])))
            elif found[1] not in ("volunteer", "worker"):
                problems.append(("volunteers", InvalidInput("visits.field.not_volunteer", handle=handle[:32])))
            elif found[0] not in volunteer_ids:
                volunteer_ids.append(found[0])
        return worker_id, volunteer_ids, problems

    def _write_roster(
        self,
        session: Session,
        community_id: int,
        rows: list[tuple[ElderRow, int | None, list[int]]],
        actor_id: int | None = None,
    ) -> ImportReport:
        grids = self._grids(session, community_id, [r.grid for r, _, _ in rows if r.grid])
        existing = {e.import_key: e for e in session.scalars(select(Elder).where(Elder.community_id == community_id))}
        assigned: dict[int, set[int]] = defaultdict(set)
        for elder_id, person_id in session.execute(
            select(ElderVolunteer.elder_id, ElderVolunteer.person_id)
            .join(Elder, Elder.id == ElderVolunteer.elder_id)
            .where(Elder.community_id == community_id)
        ):
            assigned[elder_id].add(person_id)
        now = self.clock.now()
        counts: defaultdict[str, int] = defaultdict(int)
        changes: list[tuple[str, str, int]] = []
        for row, worker_id, volunteer_ids in rows:
            values = dict(
                name=row.name,
                birth_year=row.birth_year,
                address=row.address,
                grid_id=grids[0].get(row.grid) if row.grid else None,
                lives_alone=row.lives_alone,
                risk=row.risk,
                phone=row.phone,
                emergency_contact=row.emergency_contact,
                worker_id=worker_id,
            )
            elder = existing.get(row.key)
            if elder is None:
                elder = Elder(
                    community_id=community_id,
                    import_key=row.key,
                    active=True,
                    flagged=False,
                    not_home_streak=0,
                    added_at=now,
                    **values,
                )
                session.add(elder)
                session.flush()
                counts["created"] += 1
                changes.append(("created", row.name, row.birth_year))
            else:
                changed = any(getattr(elder, k) != v for k, v in values.items()) or not elder.active
                changed = changed or assigned[elder.id] != set(volunteer_ids)
                if not elder.active:
                    elder.active, elder.retired_at = True, None
                    counts["reactivated"] += 1
                    changes.append(("reactivated", row.name, row.birth_year))
                elif changed:
                    changes.append(("updated", row.name, row.birth_year))
                for k, v in values.items():
                    setattr(elder, k, v)
                counts["updated" if changed else "unchanged"] += 1
            self._set_volunteers(session, elder.id, assigned[elder.id], set(volunteer_ids))
            if row.consent:  # obtained by the row's worker, else by whoever imports the file
                record_elder_consent(
                    session,
                    self.clock,
                    self.people.settings.privacy_notice_version,
                    elder,
                    row.consent,
                    worker_id or actor_id,
                )
        in_file = {r.key for r, _, _ in rows}
        missing = sum(1 for key, e in existing.items() if e.active and key not in in_file)
        return ImportReport(
            created=counts["created"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            reactivated=counts["reactivated"],
            grids_created=grids[1],
            not_in_file=missing,
            changes=[(kind, f"{name} ({year})") for kind, name, year in changes[:CHANGES_SHOWN]],
        )

    @staticmethod
    def _set_volunteers(session: Session, elder_id: int, old: set[int], new: set[int]) -> None:
        if old - new:
            session.execute(
                delete(ElderVolunteer).where(
                    ElderVolunteer.elder_id == elder_id, ElderVolunteer.person_id.in_(old - new)
                )
            )
        if new - old:
            session.execute(insert(ElderVolunteer), [{"elder_id": elder_id, "person_id": p} for p in new - old])

    @staticmethod
    def _grids(session: Session, community_id: int, names: Iterable[str]) -> tuple[dict[str, int], int]:
        """Grid ids by name, creating the missing ones in the order given (lists show grids in
        the order they were created: the roster's order); and how many were created."""
        found = dict((session.execute(select(Grid.name, Grid.id).where(Grid.community_id == community_id))).all())
        created = 0
        for name in [n for n in dict.fromkeys(names) if n not in found]:
            grid = Grid(community_id=community_id, name=name)
            session.add(grid)
            session.flush()
            found[name] = grid.id
            created += 1
        return found, created

    # --- roster: the chat -------------------------------------------------------------------

    def add_elder(self, actor_id: int, community_id: int, values: dict[str, str]) -> ElderView:
        """One elder from the same fields as a roster row; the worker defaults to the actor."""

        def work(session: Session) -> ElderView:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            row, problems = clean_row(values, self.clock.community(community.timezone).today().year)
            if row is None:
                raise problems[0][1]
            worker_id, volunteer_ids, problems = self._people_of(session, community_id, row.worker, row.volunteers, {})
            if problems:
                raise problems[0][1]
            if not row.worker and role_in(session, actor_id, community_id) == "worker":
                worker_id = actor_id
            clash = session.scalar(
                select(Elder.id).where(Elder.community_id == community_id, Elder.import_key == row.key)
            )
            if clash is not None:
                raise InvalidInput("visits.error.elder_exists", ref=f"E{clash}")
            grids, _ = self._grids(session, community_id, [row.grid] if row.grid else [])
            elder = Elder(
                community_id=community_id,
                import_key=row.key,
                name=row.name,
                birth_year=row.birth_year,
                address=row.address,
                grid_id=grids.get(row.grid) if row.grid else None,
                lives_alone=row.lives_alone,
                risk=row.risk,
                phone=row.phone,
                emergency_contact=row.emergency_contact,
                worker_id=worker_id,
                active=True,
                flagged=False,
                not_home_streak=0,
                added_at=self.clock.now(),
            )
            session.add(elder)
            session.flush()
            self._set_volunteers(session, elder.id, set(), set(volunteer_ids))
            audit(session, self.clock, "elder.add", actor_id, community_id, "elder", elder.id)
            if row.consent:
                record_elder_consent(
                    session, self.clock, self.people.settings.privacy_notice_version, elder, row.consent, actor_id
                )
            return (self._views(session, [elder], full=True))[0]

        return self.db.transaction(work)

    def record_consent(self, actor_id: int, elder_id: int, how: str) -> tuple[ElderView, bool]:
        """`/consent E3 当面`: how a worker of the elder's community obtained the elder's consent.
        Returns the elder and whether it was new (one consent per elder is kept)."""
        way = clean_consent(how)
        if way is None:
            raise InvalidInput("elders.consent_usage")

        def work(session: Session) -> tuple[ElderView, bool]:
            elder = get_elder(session, elder_id)
            require_role(session, actor_id, elder.community_id, "worker")
            new = record_elder_consent(
                session, self.clock, self.people.settings.privacy_notice_version, elder, way, actor_id
            )
            return self._views(session, [elder], full=True)[0], new

        return self.db.transaction(work)

    def edit_elder(self, actor_id: int, elder_id: int, field_name: str, value: str) -> ElderView:
        column = EDITABLE.get(field_name.strip().lower()) or EDITABLE.get(field_name.strip())
        if column is None:
            raise InvalidInput("visits.error.bad_field", field=field_name[:20])

        def work(session: Session) -> ElderView:
            elder = get_elder(session, elder_id)
            require_role(session, actor_id, elder.community_id, "worker")
            community = get_community(session, elder.community_id)
            if column == "worker":
                handle = value.strip().lstrip("@")
                elder.worker_id = None  # "-" or nothing: every worker of the community looks after them
                if handle not in ("", "-", "无", "none"):
                    elder.worker_id, _, problems = self._people_of(session, elder.community_id, handle, (), {})
                    if problems:
                        raise problems[0][1]
            elif column == "grid":
                grid = clean_grid(value)
                elder.grid_id = (self._grids(session, elder.community_id, [grid]))[0][grid] if grid else None
            elif column == "active":
                elder.active = clean_yes_no(value)
                elder.retired_at = None if elder.active else self.clock.now()
            else:
                this_year = self.clock.community(community.timezone).today().year
                cleaners = {
                    "name": clean_elder_name,
                    "address": clean_address,
                    "lives_alone": clean_yes_no,
                    "risk": clean_risk,
                    "phone": clean_elder_phone,
                    "emergency_contact": clean_contact,
                    "birth_year": lambda v: clean_birth_year(v, this_year),
                }
                setattr(elder, column, cleaners[column](value))
            if column in ("name", "birth_year"):
                key = import_key(elder.name, elder.birth_year)
                clash = session.scalar(
                    select(Elder.id).where(
                        Elder.community_id == elder.community_id, Elder.import_key == key, Elder.id != elder.id
                    )
                )
                if clash is not None:
                    raise InvalidInput("visits.error.elder_exists", ref=f"E{clash}")
                elder.import_key = key
            audit(session, self.clock, "elder.edit", actor_id, elder.community_id, "elder", elder.id, {"field": column})
            return (self._views(session, [elder], full=True))[0]

        return self.db.transaction(work)

    def assign(self, actor_id: int, elder_id: int, handles: list[str], *, remove: bool = False) -> ElderView:
        """Assign volunteers to an elder (or take them off); each assigned one is told."""
        if not handles:
            raise InvalidInput("error.need_person")

        def work(session: Session) -> ElderView:
            elder = get_elder(session, elder_id)
            scope = manage_elder(session, actor_id, elder)
            _, ids, problems = self._people_of(session, elder.community_id, None, handles, {})
            if problems:
                raise problems[0][1]
            # A coordinator hands their grid's elders to their grid's people (and may take anyone off).
            for person_id in [] if remove else ids:
                require_person_in_scope(session, scope, person_id, elder.community_id)
            old = set(session.scalars(select(ElderVolunteer.person_id).where(ElderVolunteer.elder_id == elder.id)))
            new = old - set(ids) if remove else old | set(ids)
            self._set_volunteers(session, elder.id, old, new)
            grid = session.get(Grid, elder.grid_id) if elder.grid_id else None
            for person_id in new - old:
                notify(
                    session,
                    self.clock,
                    person_id,
                    "visits.notify.assigned",
                    ref=f"E{elder.id}",
                    name=elder.name,
                    address=elder.address if consents_of(session, [elder.id]) else "—",
                    grid=grid.name if grid else "—",
                )
            audit(
                session,
                self.clock,
                "elder.unassign" if remove else "elder.assign",
                actor_id,
                elder.community_id,
                "elder",
                elder.id,
                {"people": sorted(ids)},
            )
            return (self._views(session, [elder], full=True))[0]

        return self.db.transaction(work)

    def retire(self, actor_id: int, elder_id: int, reason: str | None = None) -> ElderView:
        """Take an elder off the lists (moved away, in a care home, passed away); history stays."""

        def work(session: Session) -> ElderView:
            elder = get_elder(session, elder_id)
            require_role(session, actor_id, elder.community_id, "worker")
            if elder.active:
                elder.active, elder.retired_at = False, self.clock.now()
                audit(
                    session,
                    self.clock,
                    "elder.retire",
                    actor_id,
                    elder.community_id,
                    "elder",
                    elder.id,
                    {"reason": (reason or "")[:200]},
                )
            return (self._views(session, [elder], full=True))[0]

        return self.db.transaction(work)

    def may_manage(self, actor_id: int, elder_id: int) -> None:
        """Refuses anyone but a worker, an admin or the coordinator of the elder's grid."""
        with self.db.uow() as session:
            manage_elder(session, actor_id, get_elder(session, elder_id))

    def elder(self, viewer_id: int, elder_id: int) -> ElderView:
        with self.db.uow() as session:
            elder = get_elder(session, elder_id)
            full, _ = elder_access(session, viewer_id, elder)
            return (self._views(session, [elder], full=full))[0]

    def roster(
        self, viewer_id: int, community_id: int, page: int = 0, page_size: int = 20, *, after: int | None = None
    ) -> tuple[list[ElderView], bool]:
        """Active elders: all of them for workers and admins, their grids' for coordinators,
        their own for volunteers. `after`: the page after that elder id (a keyset page: the
        thousandth page costs the first's)."""
        with self.db.uow() as session:
            community, scope, _ = viewer(session, viewer_id, community_id)
            stmt = (
                select(Elder, Grid.name, Person.display_name)
                .outerjoin(Grid, Grid.id == Elder.grid_id)
                .outerjoin(Person, Person.id == Elder.worker_id)
                .where(Elder.community_id == community_id, Elder.active.is_(True))
            )
            if scope is None:
                stmt = stmt.where(
                    Elder.id.in_(select(ElderVolunteer.elder_id).where(ElderVolunteer.person_id == viewer_id))
                )
            elif not scope.everything:
                stmt = stmt.where(Elder.grid_id.in_(sorted(scope.grids)))
            if after is not None:
                stmt = stmt.where(Elder.id > after)
            else:
                stmt = stmt.offset(page * page_size)
            rows = session.execute(stmt.order_by(Elder.id).limit(page_size + 1)).all()
            for elder, _, _ in rows:
                if scope is not None:
                    check_grid(scope, elder.grid_id)
            shown = rows[:page_size]
            known = (
                {e.grid_id: grid for e, grid, _ in shown if e.grid_id},
                {e.worker_id: name for e, _, name in shown if e.worker_id},
            )
            views = self._views(
                session, [e for e, _, _ in shown], full=scope is not None, community=community, known=known
            )
            return views, len(rows) > page_size

    @reads
    def calendar(self, viewer_id: int, community_id: int, month: str | None = None) -> VisitCalendar:
        """The visits and calls of a month, counted per local day, for the community's workers
        (a grid coordinator: those of their grids' elders): one pass over the month's range of
        the (community, at) index."""
        with self.db.read() as session:
            scope = require_scope(session, viewer_id, community_id)
            community = get_community(session, community_id)
            clock = self.clock.community(community.timezone)
            chosen = clock.month(month or None)
            days = [days_after(chosen.first, i) for i in range((chosen.last - chosen.first).days + 1)]
            starts = [day_start(d, community.timezone) for d in [*days, days_after(days[-1], 1)]]
            record = VisitRecord
            before = [func.sum(case((record.at < bound, 1), else_=0)) for bound in starts[1:]]
            stmt = select(record.kind, *before).where(
                record.community_id == community_id, record.at >= starts[0], record.at < starts[-1]
            )
            if not scope.everything:
                stmt = stmt.where(
                    record.elder_id.in_(
                        select(Elder.id).where(
                            Elder.community_id == community_id, Elder.grid_id.in_(sorted(scope.grids))
                        )
                    )
                )
            rows = session.execute(stmt.group_by(record.kind)).all()
            counted: dict[str, dict[date, int]] = {"visit": {}, "call": {}}
            for kind, *running in rows:
                previous = 0
                for day, upto in zip(days, running, strict=True):
                    if int(upto or 0) > previous:
                        counted.setdefault(kind, {})[day] = int(upto) - previous
                    previous = int(upto or 0)
            return VisitCalendar(chosen, clock.today(), counted["visit"], counted["call"])

    def export_roster(self, actor_id: int, community_id: int) -> tuple[str, bytes]:
        """The roster as a CSV in the import format (edit it and import it back), named after
        the community's date; audited, as it carries addresses and phones."""

        def work(session: Session) -> tuple[str, bytes]:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            elders = list(
                session.scalars(
                    select(Elder).where(Elder.community_id == community_id, Elder.active.is_(True)).order_by(Elder.id)
                )
            )
            handles = self._handles(session, community_id)
            grids = {i: n for n, i in (self._grids(session, community_id, []))[0].items()}
            volunteers: dict[int, list[str]] = defaultdict(list)
            for elder_id, person_id in session.execute(
                select(ElderVolunteer.elder_id, ElderVolunteer.person_id)
                .join(Elder, Elder.id == ElderVolunteer.elder_id)
                .where(Elder.community_id == community_id)
                .order_by(ElderVolunteer.elder_id, ElderVolunteer.person_id)
            ):
                volunteers[elder_id].append(handles.get(person_id, ""))
            zh = community.locale == "zh-CN"
            consents = consents_of(session, [e.id for e in elders])
            ways = (
                {"in_person": "当面", "phone": "电话", "family": "家属"} if zh else {w: w for w in _WAYS if w != "chat"}
            )
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for e in elders:
                writer.writerow(
                    [
                        csv_text(v)
                        for v in [
                            e.name,
                            e.birth_year,
                            e.address,
                            grids.get(e.grid_id, "") if e.grid_id else "",
                            ("是" if e.lives_alone else "否") if zh else ("yes" if e.lives_alone else "no"),
                            ({"high": "高", "normal": "普通"} if zh else {"high": "high", "normal": "normal"})[e.risk],
                            e.phone or "",
                            e.emergency_contact or "",
                            handles.get(e.worker_id, "") if e.worker_id else "",
                            ";".join(volunteers[e.id]),
                            ways.get(consents.get(e.id, ""), ""),
                        ]
                    ]
                )
            audit(session, self.clock, "roster.export", actor_id, community_id, details={"rows": len(elders)})
            filename = f"elders-{self.clock.community(community.timezone).today().isoformat()}.csv"
            return filename, out.getvalue().encode("utf-8-sig")  # the BOM lets Excel open it as UTF-8

        return self.db.transaction(work)

    @staticmethod
    def _handles(session: Session, community_id: int) -> dict[int, str]:
        """A handle for each member, as the import accepts it back (display name if none)."""
        rows = session.execute(
            select(Person.id, Person.display_name, func.min(Identity.handle))
            .join(Membership, Membership.person_id == Person.id)
            .outerjoin(Identity, Identity.person_id == Person.id)
            .where(Membership.community_id == community_id)
            .group_by(Person.id, Person.display_name)
        )
        return {pid: handle or name for pid, name, handle in rows}

    def _views(
        self,
        session: Session,
        elders: list[Elder],
        *,
        full: bool,
        community: Community | None = None,
        known: tuple[dict[int, str], dict[int, str]] | None = None,
    ) -> list[ElderView]:
        """`community`: theirs, when the caller has it; `known`: the names of their grids and
        workers, when the caller read them with the elders."""
        if not elders:
            return []
        community = community or get_community(session, elders[0].community_id)
        tz, today = zone(community.timezone), self.clock.community(community.timezone).today()
        cadence = VisitCadence.from_options(community.options)
        ids = [e.id for e in elders]
        if known is not None:
            grids, names = known
        else:
            grids, names = self._names(session, elders)
        consents = consents_of(session, ids)
        volunteers: dict[int, list[str]] = defaultdict(list)
        for elder_id, name in session.execute(
            select(ElderVolunteer.elder_id, Person.display_name)
            .join(Person, Person.id == ElderVolunteer.person_id)
            .where(ElderVolunteer.elder_id.in_(ids))
            .order_by(Person.id)
        ):
            volunteers[elder_id].append(name)
        return [self._view(e, full, tz, today, cadence, grids, names, consents, volunteers) for e in elders]

    @staticmethod
    def _names(session: Session, elders: list[Elder]) -> tuple[dict[int, str], dict[int, str]]:
        grids = dict(
            (
                session.execute(select(Grid.id, Grid.name).where(Grid.id.in_({e.grid_id for e in elders if e.grid_id})))
            ).all()
        )
        names = dict(
            (
                session.execute(
                    select(Person.id, Person.display_name).where(
                        Person.id.in_({e.worker_id for e in elders if e.worker_id})
                    )
                )
            ).all()
        )
        return grids, names

    @staticmethod
    def _view(
        e: Elder,
        full: bool,
        tz: ZoneInfo,
        today: date,
        cadence: VisitCadence,
        grids: dict[int, str],
        names: dict[int, str],
        consents: dict[int, str],
        volunteers: dict[int, list[str]],
    ) -> ElderView:
        return ElderView(
            e.id,
            e.community_id,
            e.name,
            e.birth_year,
            today.year - e.birth_year,
            grids.get(e.grid_id) if e.grid_id else None,
            e.lives_alone,
            e.risk,
            e.address if full or e.id in consents else None,
            e.phone if full else None,
            e.emergency_contact if full else None,
            e.worker_id,
            names.get(e.worker_id) if e.worker_id else None,
            tuple(volunteers[e.id]),
            e.active,
            e.flagged,
            local_date(e.last_visit_at, tz) if e.last_visit_at else None,
            local_date(e.last_call_at, tz) if e.last_call_at else None,
            due_of(
                cadence,
                lives_alone=e.lives_alone,
                risk=e.risk,
                birth_year=e.birth_year,
                added_at=e.added_at,
                last_visit_at=e.last_visit_at,
                last_call_at=e.last_call_at,
                today=today,
                tz=tz,
            ),
            full,
            consents.get(e.id),
        )


def _header_problems(header: list[str | None], raw: list[str]) -> list[Problem]:
    problems = [
        Problem(1, title, "visits.import.unknown_column")
        for column, title in zip(header, raw, strict=True)
        if column is None and title
    ]
    seen: set[str] = set()
    for column, title in zip(header, raw, strict=True):
        if column and column in seen:
            problems.append(Problem(1, title, "visits.import.duplicate_column"))
        seen.add(column or "")
    # A missing column is named in the language most of the file's headers are in.
    chinese = sum(title in HEADER_ALIASES for title in raw) > sum(title.lower() in COLUMNS for title in raw)
    problems.extend(
        Problem(1, CHINESE_HEADERS[c] if chinese else c, "visits.import.missing_column")
        for c in REQUIRED
        if c not in header
    )
    return problems
