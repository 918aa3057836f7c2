"""The paper path for members without a phone: a monthly statement to hand over, and an event
sign-in sheet whose signed QR code records the hours of everyone who came, once.

An **offline member** is a member of the community (any role) who is not forgotten and has no
channel identity we can reach them at: none at all (a relative or an elder a worker registered,
`/family link`), or only ones the platform refused to deliver to (`identities.unreachable_at`,
someone who blocked the bot). Nothing they are told in the chat reaches them, so paper does.

A statement's figures come from the services the chat uses (`/balance`: points and star levels;
`/mylogs`: hours; `/orders`: redemptions and pickup codes), read in one reader session (on
SQLite one snapshot, so the pages agree with each other); nothing here adds up a balance of its
own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from bot.expiry.service import Expiring, ExpiryService
from bot.hours.service import Decision, HoursService, LogView
from bot.kernel.access import get_community, require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month
from bot.kernel.contact import contact_of, set_contact
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import AlreadyDecided, InvalidInput, NotAllowed, NotFound
from bot.kernel.settings import Settings
from bot.kernel.text import clean_text
from bot.ledger.service import Balance
from bot.points.service import PointsService
from bot.shop.service import RedemptionView, ShopService
from bot.stars.levels import Standing, StarLevelsService
from models import Community, EventSheet, Grid, Identity, Membership, Person, Team, TeamMember
from models.paper import SheetStatus
from models.shop import RedemptionStatus

SHEET_NAME_MAX = 30
SHEET_MAX = 60  # names on one sheet: two printed pages, and a list a worker can still tick
ORDERS_READ = 200  # a member's latest redemptions a statement looks through
# ES12-abcdefghijklmnop: the sheet's number and 80 bits of its signature (base32, lower case),
# letters a Telegram deep link and a typed code both carry.
TOKEN = re.compile(r"ES(\d{1,9})-([a-z2-7]{16})")
_NAME = func.coalesce(Person.real_name, Person.display_name)


@dataclass(frozen=True)
class Statement:
    person_id: int
    name: str
    grid: str | None
    balance: Balance
    standing: Standing
    logs: tuple[LogView, ...]  # approved, served in the month, newest first
    redemptions: tuple[RedemptionView, ...]  # asked for in the month, newest first
    pickups: tuple[RedemptionView, ...]  # approved and waiting to be picked up, with their codes
    expiring: Expiring | None


@dataclass(frozen=True)
class StatementBook:
    community_id: int
    community: str
    grid: str | None
    month: Month
    contact: str | None
    printed_on: date
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class SheetFacts:
    """What a printed sign-in sheet shows."""

    id: int
    name: str
    community: str
    team: str | None
    names: tuple[str, ...]
    token: str
    printed_on: date


@dataclass(frozen=True)
class SheetView:
    id: int
    name: str
    people: tuple[int, ...]
    names: tuple[str, ...]


class PaperService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        hours: HoursService,
        points: PointsService,
        star_levels: StarLevelsService,
        shop: ShopService,
        expiry: ExpiryService,
    ) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.hours, self.points, self.star_levels, self.shop, self.expiry = hours, points, star_levels, shop, expiry

    # --- the community's contact line ---------------------------------------------------------

    def community_named(self, name: str | None) -> int:
        """By name, or the only community there is."""
        with self.db.read() as session:
            return _community_named(session, name)

    def set_contact(self, actor_id: int | None, community_id: int, text: str | None) -> str | None:
        """Sets (or, with None, clears) the contact line statements and door cards print.
        `actor_id` None: the operator at the command line."""

        def work(session: Session) -> str | None:
            if actor_id is not None:
                require_role(session, actor_id, community_id, "worker")
            return set_contact(session, self.clock, actor_id, get_community(session, community_id), text)

        return self.db.transaction(work)

    @reads
    def contact(self, community_id: int) -> str | None:
        with self.db.read() as session:
            return contact_of(get_community(session, community_id))

    # --- monthly statements --------------------------------------------------------------------

    @reads
    def statements(self, community: str | None, grid: str | None, month: str) -> StatementBook:
        """Every offline member's statement for the month (of one grid, when named), read in one
        read-only unit of work. Unknown community or grid: NotFound; a bad month: InvalidInput."""
        return self.db.unit(
            lambda session: self._statements(session, _community_named(session, community), grid, month), writes=False
        )

    @reads
    def statements_for(self, actor_id: int, community_id: int, grid: str | None, month: str) -> StatementBook:
        """`statements` for a worker of the community (the desk's print page); anyone else is
        refused."""

        def work(session: Session) -> StatementBook:
            require_role(session, actor_id, community_id, "worker")
            return self._statements(session, community_id, grid, month)

        return self.db.unit(work, writes=False)

    def _statements(self, session: Session, community_id: int, grid_name: str | None, text: str) -> StatementBook:
        community = get_community(session, community_id)
        month = Month.parse(text, community.timezone)
        grid_id = None
        if grid_name is not None:
            grid_id = session.scalar(
                select(Grid.id).where(Grid.community_id == community.id, Grid.name == grid_name.strip())
            )
            if grid_id is None:
                names = session.scalars(select(Grid.name).where(Grid.community_id == community.id).order_by(Grid.name))
                raise NotFound("paper.error.no_grid", grid=grid_name.strip()[:50], names="、".join(names) or "—")
        statements = tuple(
            self._statement(community.id, person_id, person_name, grid, month)
            for person_id, person_name, grid in offline_members(session, community.id, grid_id)
        )
        today = self.clock.community(community.timezone).today()
        return StatementBook(community.id, community.name, grid_name, month, contact_of(community), today, statements)

    def printed_statements(self, book: StatementBook, actor_id: int | None = None) -> None:
        """Statements carry personal information out of the bank: logged like every export (its
        own small transaction, after the reading). `actor_id` None: the operator (the CLI), else
        the worker at the desk."""
        self.db.transaction(
            lambda session: audit(
                session,
                self.clock,
                "export.statements",
                actor_id,
                book.community_id,
                "community",
                book.community_id,
                {
                    "month": book.month.label,
                    "grid": book.grid,
                    "pages": len(book.statements),
                    "via": "cli" if actor_id is None else "desk",
                },
            )
        )

    def _statement(self, community_id: int, person_id: int, name: str, grid: str | None, month: Month) -> Statement:
        logs = self.hours.logs_of(
            person_id, community_id, status="approved", limit=1000, served=(month.first, month.last)
        )
        orders = self.shop.orders(person_id, community_id, limit=ORDERS_READ)
        return Statement(
            person_id,
            name,
            grid,
            self.points.balance(person_id, community_id),
            self.star_levels.standing(person_id, community_id),
            tuple(logs),
            tuple(o for o in orders if month.start <= o.created_at < month.end),
            tuple(o for o in orders if o.status == RedemptionStatus.APPROVED and o.pickup_code),
            self.expiry.next_for(person_id, community_id),
        )

    # --- event sign-in sheets ------------------------------------------------------------------

    def print_sheet(self, worker_id: int, community_id: int, name: str, team: str | None = None) -> SheetFacts:
        """A new sheet for an event: the team's members who can have hours (volunteers and
        workers), or without a team every confirmed volunteer of the community."""
        event = clean_text(" ".join((name or "").split())) or ""
        if not event or len(event) > SHEET_NAME_MAX or event.startswith("/"):
            raise InvalidInput("paper.sheet_bad_name", limit=SHEET_NAME_MAX)

        def work(session: Session) -> SheetFacts:
            require_role(session, worker_id, community_id, "worker")
            community = get_community(session, community_id)
            team_id = None
            if team:
                team_id = session.scalar(select(Team.id).where(Team.community_id == community_id, Team.name == team))
                if team_id is None:
                    raise NotFound("teams.no_team", team=team[:SHEET_NAME_MAX])
            people = expected(session, community_id, team_id)
            if not people:
                raise InvalidInput("paper.sheet_nobody_team" if team else "paper.sheet_nobody")
            if len(people) > SHEET_MAX:
                raise InvalidInput("paper.sheet_too_many", count=len(people), limit=SHEET_MAX)
            sheet = EventSheet(
                community_id=community_id,
                name=event,
                team_id=team_id,
                people=[p for p, _ in people],
                nonce=secrets.token_hex(16),
                status=SheetStatus.PRINTED,
                created_by_id=worker_id,
                created_at=self.clock.now(),
            )
            session.add(sheet)
            session.flush()
            return SheetFacts(
                sheet.id,
                event,
                community.name,
                team if team_id else None,
                tuple(n for _, n in people),
                self.token(sheet),
                self.clock.community(community.timezone).today(),
            )

        return self.db.transaction(work)

    def token(self, sheet: EventSheet) -> str:
        key = self.settings.signing_key.get_secret_value().encode() if self.settings.signing_key else b""
        digest = hmac.new(key, f"event-sheet:{sheet.id}:{sheet.nonce}".encode(), hashlib.sha256).digest()
        return f"ES{sheet.id}-{base64.b32encode(digest[:10]).decode().lower()}"

    def _sheet(self, session: Session, worker_id: int, community_id: int, token: str, *, lock: bool) -> EventSheet:
        """The sheet a scanned or typed code names, for a worker of its community. Whatever is
        wrong with a code (its shape, its number, its signature, another community's) gets the
        same answer, so trying codes tells nothing."""
        require_role(session, worker_id, community_id, "worker")
        code = (token or "").strip()
        match = TOKEN.fullmatch(code[:64])
        sheet = None
        if match is not None:
            stmt = select(EventSheet).where(EventSheet.id == int(match[1]))
            sheet = session.scalars(stmt.with_for_update() if lock else stmt).first()
        if sheet is None or sheet.community_id != community_id or not hmac.compare_digest(self.token(sheet), code):
            raise NotFound("paper.sheet_bad_code")
        if sheet.status != SheetStatus.PRINTED:
            raise AlreadyDecided("paper.sheet_used", name=sheet.name, id=f"ES{sheet.id}")
        return sheet

    @reads
    def open_sheet(self, worker_id: int, community_id: int, token: str) -> SheetView:
        """A scanned sheet, to tick who came."""
        with self.db.read() as session:
            sheet = self._sheet(session, worker_id, community_id, token, lock=False)
            people = tuple(int(p) for p in sheet.people)
            names = dict(session.execute(select(Person.id, _NAME).where(Person.id.in_(people))).all())
        return SheetView(sheet.id, sheet.name, people, tuple(names.get(p, "—") for p in people))

    def record_sheet(
        self,
        worker_id: int,
        community_id: int,
        token: str,
        attendees: list[int],
        *,
        category_id: int,
        service_date: date,
        minutes: int,
        repeat_ok: bool = True,
    ) -> list[Decision]:
        """Everyone ticked gets the hours, through the hours service as a worker's record (代录:
        approved at once, a worker's own hours wait for another worker), and the sheet is spent
        in the same transaction: a second scan, or the same code typed again, is refused."""

        def work(session: Session) -> list[Decision]:
            sheet = self._sheet(session, worker_id, community_id, token, lock=True)
            printed = [int(p) for p in sheet.people]
            if not attendees or len(set(attendees)) != len(attendees) or not set(attendees) <= set(printed):
                raise InvalidInput("paper.sheet_bad_attendees")
            if worker_id in attendees:
                raise NotAllowed("error.own_log")
            claimed = session.execute(
                update(EventSheet)
                .where(EventSheet.id == sheet.id, EventSheet.status == SheetStatus.PRINTED)
                .values(status=SheetStatus.RECORDED, recorded_by_id=worker_id, recorded_at=self.clock.now())
            )
            if rowcount(claimed) != 1:
                raise AlreadyDecided("paper.sheet_used", name=sheet.name, id=f"ES{sheet.id}")
            ordered = [p for p in printed if p in set(attendees)]  # the sheet's order, whatever the ticking's
            return self.hours.record(
                worker_id,
                community_id,
                ordered,
                category_id=category_id,
                service_date=service_date,
                minutes=minutes,
                event_name=sheet.name,
                request_key=f"sheet:ES{sheet.id}",
                repeat_ok=repeat_ok,
            )

        return self.db.transaction(work)


def _community_named(session: Session, name: str | None) -> int:
    known = session.execute(select(Community.id, Community.name).order_by(Community.id)).all()
    found = [c for c in known if c.name == name.strip()] if name else known
    if len(found) != 1:
        raise NotFound("paper.error.pick_community", names="、".join(n for _, n in known) or "—")
    return found[0].id


def offline_members(
    session: Session, community_id: int, grid_id: int | None = None
) -> list[tuple[int, str, str | None]]:
    """(person id, name, grid name) of the community's offline members (see the module's
    docstring), by grid then name."""
    reachable = exists().where(Identity.person_id == Person.id, Identity.unreachable_at.is_(None))
    stmt = (
        select(Person.id, _NAME, Grid.name)
        .join(Membership, Membership.person_id == Person.id)
        .outerjoin(Grid, Grid.id == Membership.grid_id)
        .where(Membership.community_id == community_id, Person.forgotten_at.is_(None), ~reachable)
        .order_by(Grid.name.nulls_last(), _NAME, Person.id)
    )
    if grid_id is not None:
        stmt = stmt.where(Membership.grid_id == grid_id)
    return [(int(p), str(n), g) for p, n, g in session.execute(stmt).all()]


def expected(session: Session, community_id: int, team_id: int | None) -> list[tuple[int, str]]:
    """Who a sheet lists: a team's members who can have hours, or the confirmed volunteers."""
    stmt = (
        select(Person.id, _NAME)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.community_id == community_id, Person.forgotten_at.is_(None), Membership.confirmed.is_(True))
        .order_by(_NAME, Person.id)
    )
    if team_id is None:
        stmt = stmt.where(Membership.role == "volunteer")
    else:
        stmt = stmt.join(TeamMember, TeamMember.person_id == Person.id).where(
            TeamMember.team_id == team_id, Membership.role.in_(("volunteer", "worker"))
        )
    return [(int(p), str(n)) for p, n in session.execute(stmt).all()]
