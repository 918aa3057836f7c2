"""The monthly report: volunteers, the points ledger, the service hours by week and category with
a chart, and the sections other features plug in (report_sections.SECTIONS).

Hours count by service date (approved logs only), like the star list; points count by the time
they moved in the ledger, read in the community's time zone. The ledger sheet balances by
construction and says so in its check row: opening + issued − redeemed − expired ± adjusted
± other = closing, where "outstanding" is what people (and the community's donation pool) hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.kernel.access import get_community, require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month, days_after, week_end
from bot.kernel.db import Database, reads
from bot.kernel.errors import InvalidInput, NotFound
from bot.kernel.i18n import render
from bot.kernel.settings import Settings
from bot.points.service import Earned, earned
from models import Account, Community, Membership, Person, ServiceCategory, ServiceLog, Transfer

# The accounts whose balances are points people can still spend: the bank's outstanding points.
OUTSTANDING = ("person", "pool")
# Phases that move posted balances; pending holds and their void/expire only reserve.
POSTING = ("posted", "post")
RESOLUTIONS = ("post", "void", "expire")


# --- what a report is made of -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str  # already in the report's language
    kind: str = "text"  # text | int | hours | date: decides the cell's number format
    width: float | None = None  # in characters; None: fitted to the contents
    center: bool = False  # e.g. a running number next to a name


@dataclass(frozen=True)
class Sheet:
    """One table of the report: a sheet in the XLSX, one CSV file."""

    key: str  # short ASCII name, unique in the report: the CSV file's suffix
    title: str  # the sheet tab (at most 31 characters, none of []:*?/\)
    columns: tuple[Column, ...]
    rows: list[tuple] = field(default_factory=list)
    totals: tuple | None = None  # a bold last row; first cell is its label
    notes: tuple[str, ...] = ()  # lines printed under the table (not in CSV)
    image: bytes | None = None  # a PNG placed on the sheet (the chart)
    emphasis: frozenset[int] = frozenset()  # indexes into rows printed bold (a closing balance)


@dataclass(frozen=True)
class Report:
    community_id: int
    community: str
    month: Month
    locale: str
    sheets: list[Sheet]
    generated_at: datetime
    hours: HoursBy  # what the chart shows

    def sheet(self, key: str) -> Sheet:
        return next(s for s in self.sheets if s.key == key)


# A feature's sheet in the report (the supermarket's stock, the visits done against due…): it reads
# inside the report's session and returns a Sheet, or None to add nothing; the list is
# bot/reports/sections.py's SECTIONS. See the README for the contract.
Section = Callable[[Session, int, Month, str], Sheet | None]


@dataclass(frozen=True)
class MonthHours:
    """What /chart draws."""

    community: str
    month: Month
    hours: HoursBy


# --- the service ----------------------------------------------------------------------------------


class ReportsService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, sections: Sequence[Section] = ()) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.sections = list(sections)

    @reads
    def recent_months(self, community_id: int) -> tuple[str, str]:
        """This month and last month in the community's time zone, as YYYY-MM."""
        with self.db.read() as session:
            community = get_community(session, community_id)
        this = self.clock.community(community.timezone).month()
        return this.label, this.previous().label

    # Services return the report's data; drawing the chart and writing the files is the
    # adapter's (bot/reports/files.py), off the database thread.

    def monthly(self, actor_id: int, community_id: int, month: str, locale: str) -> Report:
        """The worker's /report: the month's report, for workers of the community and admins;
        the export is audited in the same transaction."""

        def work(session: Session) -> Report:
            require_role(session, actor_id, community_id, "worker")
            report = self._build(session, community_id, month, locale)
            self._audit(session, actor_id, report, "xlsx", "chat")
            return report

        return self.db.transaction(work)

    def export(self, community: str | None, month: str, locale: str, fmt: str) -> Report:
        """The operator's `lovebank export report`: by community name, or the only community."""

        def work(session: Session) -> Report:
            report = self._build(session, self._community_named(session, community), month, locale)
            self._audit(session, None, report, fmt, "cli")
            return report

        return self.db.transaction(work)

    @reads
    def hours_chart(self, person_id: int, community_id: int, month: str | None, locale: str) -> MonthHours:
        """The month's hours per week and per category, for members of the community: totals
        only, no names (/chart)."""
        with self.db.read() as session:
            require_role(session, person_id, community_id, "resident")
            community = get_community(session, community_id)
            report_month = self._month(community, month)
            return MonthHours(community.name, report_month, _hours_by(session, community_id, report_month, locale))

    def build(self, community_id: int, month: str, locale: str) -> Report:
        """Every sheet of the report, read in one transaction (one consistent snapshot)."""
        with self.db.uow() as session:
            return self._build(session, community_id, month, locale)

    def _build(self, session: Session, community_id: int, month: str, locale: str) -> Report:
        community = get_community(session, community_id)
        report_month = self._month(community, month)
        flows = _flows(session, community_id, report_month)
        sheets = [
            volunteers_sheet(session, community_id, report_month, locale, flows),
            ledger_sheet(ledger_summary(*flows), report_month, locale),
        ]
        for section in self.sections:
            sheet = section(session, community_id, report_month, locale)
            if sheet is not None:
                sheets.append(sheet)
        data = _hours_by(session, community_id, report_month, locale)
        sheets.extend(hours_sheets(data, locale))
        _check_keys(sheets)
        return Report(community_id, community.name, report_month, locale, sheets, self.clock.now(), data)

    @staticmethod
    def _community_named(session: Session, community: str | None) -> int:
        names = list(session.scalars(select(Community.name).order_by(Community.id)))
        if community is None and len(names) != 1:
            raise InvalidInput("error.report_which_community", communities="、".join(names))
        community_id = session.scalar(select(Community.id).where(Community.name == (community or names[0])))
        if community_id is None:
            raise NotFound("error.no_community")
        return community_id

    def _month(self, community: Community, month: str | None) -> Month:
        clock = self.clock.community(community.timezone)
        chosen = clock.month(month or None)
        if chosen.after(clock.month()):
            raise InvalidInput("error.month_future")
        return chosen

    def _audit(self, session: Session, actor_id: int | None, report: Report, fmt: str, via: str) -> None:
        audit(
            session,
            self.clock,
            "export.report",
            actor_id,
            report.community_id,
            "community",
            report.community_id,
            {"month": report.month.label, "format": fmt, "via": via, "locale": report.locale},
        )


def _check_keys(sheets: list[Sheet]) -> None:
    keys = [s.key for s in sheets]
    if len(set(keys)) != len(keys):
        raise ValueError(f"report sheets share a key: {keys}")


def _h(locale: str, key: str) -> str:
    return render(locale, f"report.col.{key}")


def hours_value(minutes: int) -> float:
    """Hours for a spreadsheet cell: minutes come in 15-minute steps, so this is exact."""
    return round(minutes / 60, 2)


# --- volunteers -----------------------------------------------------------------------------------


@dataclass
class _Flows:
    """Per account: posted credits and debits by kind, before and in the month; holds open at
    the month's end."""

    before: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # net, by kind
    month_in: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # credits in the month
    month_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # debits in the month
    held: int = 0

    @property
    def opening(self) -> int:
        return sum(self.before.values())

    @property
    def closing(self) -> int:
        return self.opening + sum(self.month_in.values()) - sum(self.month_out.values())


Flows = tuple[dict[int, _Flows], dict[int, tuple[str, int | None]]]


def _flows(session: Session, community_id: int, month: Month) -> Flows:
    """Two grouped queries over the community's transfers up to the month's end (credit side,
    debit side), plus its accounts: everything the volunteers and ledger sheets need."""
    accounts = {
        a.id: (a.kind, a.person_id)
        for a in (
            session.execute(
                select(Account.id, Account.kind, Account.person_id).where(Account.community_id == community_id)
            )
        ).all()
    }
    flows: dict[int, _Flows] = defaultdict(_Flows)
    for side in ("credit", "debit"):
        account = Transfer.credit_account_id if side == "credit" else Transfer.debit_account_id
        inner = (
            select(
                account.label("account"),
                Transfer.kind,
                Transfer.phase,
                Transfer.amount,
                case((Transfer.created_at >= month.start, 1), else_=0).label("in_month"),
            )
            .where(Transfer.community_id == community_id, Transfer.created_at < month.end)
            .subquery()
        )
        rows = session.execute(
            select(inner.c.account, inner.c.kind, inner.c.phase, inner.c.in_month, func.sum(inner.c.amount)).group_by(
                inner.c.account, inner.c.kind, inner.c.phase, inner.c.in_month
            )
        )
        for account_id, kind, phase, in_month, amount in rows:
            f, amount = flows[account_id], int(amount)
            if side == "debit" and phase == "pending":
                f.held += amount
            elif side == "debit" and phase in RESOLUTIONS:
                f.held -= amount  # the hold was settled before the month ended
            if phase not in POSTING:
                continue
            if in_month:
                (f.month_in if side == "credit" else f.month_out)[kind] += amount
            else:
                f.before[kind] += amount if side == "credit" else -amount
    return flows, accounts


def volunteers_sheet(
    session: Session, community_id: int, month: Month, locale: str, flows_and_accounts: Flows
) -> Sheet:
    """One row per volunteer of the community, and per anyone else who served or whose points
    moved (a worker who volunteers, a resident given points), so the balances add up to what
    people hold in the ledger sheet."""
    month_earned, all_earned = (
        earned(session, community_id, month.last, month.first),
        earned(session, community_id, month.last),
    )
    served = {person_id: (month_earned.get(person_id, Earned()), e) for person_id, e in all_earned.items()}
    flows, accounts = flows_and_accounts
    by_person = {
        person_id: flows.get(account_id, _Flows())
        for account_id, (kind, person_id) in accounts.items()
        if kind == "person"
    }
    roles = dict(
        (
            session.execute(
                select(Membership.person_id, Membership.role).where(Membership.community_id == community_id)
            )
        ).all()
    )
    active = {p for a, (kind, p) in accounts.items() if kind == "person" and p is not None and a in flows}
    ids = {p for p, r in roles.items() if r == "volunteer"} | set(served) | active
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(sorted(ids))))} if ids else {}
    rows = []
    for person_id in ids:
        this_month, to_date = served.get(person_id, (Earned(), Earned()))
        m_month, n_month, m_all = this_month.minutes, this_month.logs, to_date.minutes
        # Points earned as hours are counted (by service date), however and whenever paid.
        earned_month, earned_all = this_month.points, to_date.points
        f = by_person.get(person_id, _Flows())
        redeemed = f.month_out.get("redeem", 0) - f.month_in.get("redeem", 0)
        person = people[person_id]
        role = roles.get(person_id)
        rows.append(
            (
                person.display_name,
                person.real_name or "",
                render(locale, f"role.{role}") if role else "",
                hours_value(m_month),
                n_month,
                earned_month,
                redeemed,
                hours_value(m_all),
                earned_all,
                f.closing,
                m_month,
                m_all,
                person_id,
            )
        )
    rows.sort(key=lambda r: (-r[10], -r[11], r[0], r[12]))
    numbered = [(i, *r[:10]) for i, r in enumerate(rows, start=1)]
    totals = (
        render(locale, "report.total"),
        "",
        "",
        "",
        hours_value(sum(r[10] for r in rows)),
        sum(r[4] for r in rows),
        sum(r[5] for r in rows),
        sum(r[6] for r in rows),
        hours_value(sum(r[11] for r in rows)),
        sum(r[8] for r in rows),
        sum(r[9] for r in rows),
    )
    columns = (
        Column(_h(locale, "no"), "int", 6, center=True),
        Column(_h(locale, "name"), "text", 16),
        Column(_h(locale, "real_name"), "text", 12),
        Column(_h(locale, "role"), "text", 12),
        Column(_h(locale, "hours_month"), "hours"),
        Column(_h(locale, "logs_month"), "int"),
        Column(_h(locale, "earned_month"), "int"),
        Column(_h(locale, "redeemed_month"), "int"),
        Column(_h(locale, "hours_to_date"), "hours"),
        Column(_h(locale, "earned_to_date"), "int"),
        Column(_h(locale, "balance_end"), "int"),
    )
    notes = (render(locale, "report.note.volunteers", {"month": month.label}),)
    return Sheet("volunteers", render(locale, "report.sheet.volunteers"), columns, numbered, totals, notes)


# --- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerSummary:
    opening: int
    issued: int
    redeemed: int
    expired: int
    adjusted: int  # net: credits to people minus debits
    other: int  # net of every other kind that crosses into or out of outstanding (reversals…)
    closing: int
    gifted: int  # moved between people: no change to the outstanding total
    donated: int  # from people into the pool: no change either
    people_closing: int
    pool_closing: int
    held_closing: int  # reserved by redemption holds not yet settled at the month's end
    # Points that came from other communities of the district, and went to them (moves and
    # family gifts, through the clearing account).
    transfers_in: int = 0
    transfers_out: int = 0

    @property
    def difference(self) -> int:
        """Zero when the sheet balances."""
        return (
            self.opening
            + self.issued
            - self.redeemed
            - self.expired
            + self.adjusted
            + self.transfers_in
            - self.transfers_out
            + self.other
            - self.closing
        )


def ledger_summary(flows: dict[int, _Flows], accounts: dict[int, tuple[str, int | None]]) -> LedgerSummary:
    outstanding = [f for a, f in flows.items() if accounts.get(a, ("",))[0] in OUTSTANDING]
    net: dict[str, int] = defaultdict(int)  # by kind: into outstanding minus out of it, in the month
    for f in outstanding:
        for kind, amount in f.month_in.items():
            net[kind] += amount
        for kind, amount in f.month_out.items():
            net[kind] -= amount
    # Gifts and moves change what is outstanding only when they cross to another community, and
    # then always through the clearing account: what it took in went out, what it paid came in.
    known = ("earn", "redeem", "expire_points", "adjust", "gift", "move")
    people = [f for a, f in flows.items() if accounts.get(a, ("",))[0] == "person"]
    pool = [f for a, f in flows.items() if accounts.get(a, ("",))[0] == "pool"]
    clearing = [f for a, f in flows.items() if accounts.get(a, ("",))[0] == "clearing"]
    return LedgerSummary(
        opening=sum(f.opening for f in outstanding),
        issued=net["earn"],
        redeemed=-net["redeem"],
        expired=-net["expire_points"],
        adjusted=net["adjust"],
        other=sum(v for k, v in net.items() if k not in known),
        closing=sum(f.closing for f in outstanding),
        gifted=sum(f.month_out.get("gift", 0) for f in people) - sum(f.month_in.get("gift", 0) for f in clearing),
        donated=sum(f.month_in.get("donate", 0) for f in pool),
        people_closing=sum(f.closing for f in people),
        pool_closing=sum(f.closing for f in pool),
        held_closing=sum(f.held for f in people),
        transfers_in=sum(sum(f.month_out.values()) for f in clearing),
        transfers_out=sum(sum(f.month_in.values()) for f in clearing),
    )


def ledger_sheet(s: LedgerSummary, month: Month, locale: str) -> Sheet:
    def row(key: str, value: int) -> tuple:
        return (render(locale, f"report.ledger.{key}"), value)

    rows = [
        row("opening", s.opening),
        row("issued", s.issued),
        row("redeemed", s.redeemed),
        row("expired", s.expired),
        row("adjusted", s.adjusted),
        row("transfers_in", s.transfers_in),
        row("transfers_out", s.transfers_out),
        row("other", s.other),
        row("closing", s.closing),
        row("check", s.difference),
        (render(locale, "report.ledger.memo"), None),
        row("gifted", s.gifted),
        row("donated", s.donated),
        row("people_closing", s.people_closing),
        row("pool_closing", s.pool_closing),
        row("held_closing", s.held_closing),
        row("available_closing", s.people_closing - s.held_closing),
    ]
    columns = (Column(_h(locale, "item"), "text", 46), Column(_h(locale, "points"), "int", 14))
    notes = (render(locale, "report.note.ledger", {"month": month.label}),)
    return Sheet(
        "ledger", render(locale, "report.sheet.ledger"), columns, rows, None, notes, emphasis=frozenset({8, 9})
    )


# --- hours by week and category ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeekHours:
    label: str  # "11-02 – 11-08", clipped to the month
    start: date
    end: date
    minutes: int
    logs: int
    people: int


@dataclass(frozen=True)
class CategoryHours:
    name: str
    minutes: int
    logs: int
    points: int


@dataclass(frozen=True)
class HoursBy:
    weeks: list[WeekHours]
    categories: list[CategoryHours]
    people: int  # distinct volunteers with approved hours in the month


def month_weeks(month: Month) -> list[tuple[date, date]]:
    """Monday-to-Sunday weeks, clipped to the month: Nov 2026 starts with Sunday the 1st."""
    weeks, day = [], month.first
    while day <= month.last:
        end = min(week_end(day), month.last)
        weeks.append((day, end))
        day = days_after(end, 1)
    return weeks


def _hours_by(session: Session, community_id: int, month: Month, locale: str) -> HoursBy:
    rows = (
        session.execute(
            select(
                ServiceLog.service_date,
                ServiceLog.category_id,
                ServiceLog.person_id,
                func.count(),
                func.sum(ServiceLog.minutes),
                func.sum(ServiceLog.points),
            )
            .where(
                ServiceLog.community_id == community_id,
                ServiceLog.status == "approved",
                ServiceLog.service_date >= month.first,
                ServiceLog.service_date <= month.last,
            )
            .group_by(ServiceLog.service_date, ServiceLog.category_id, ServiceLog.person_id)
        )
    ).all()
    weeks = []
    for start, end in month_weeks(month):
        inside = [r for r in rows if start <= r[0] <= end]
        weeks.append(
            WeekHours(
                f"{start:%m-%d} – {end:%m-%d}",
                start,
                end,
                sum(int(r[4]) for r in inside),
                sum(int(r[3]) for r in inside),
                len({r[2] for r in inside}),
            )
        )
    categories = (
        session.execute(
            select(ServiceCategory.id, ServiceCategory.name, ServiceCategory.name_en, ServiceCategory.active)
            .where(ServiceCategory.community_id == community_id)
            .order_by(ServiceCategory.position, ServiceCategory.id)
        )
    ).all()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, category_id, _, logs, minutes, points in rows:
        t = totals[category_id]
        t[0] += int(minutes)
        t[1] += int(logs)
        t[2] += int(points)
    by_category = [
        CategoryHours(name_en if locale == "en" else name, *totals.get(cid, (0, 0, 0)))
        for cid, name, name_en, active in categories
        if active or cid in totals
    ]
    return HoursBy(weeks, by_category, len({r[2] for r in rows}))


def hours_sheets(data: HoursBy, locale: str) -> list[Sheet]:
    total = render(locale, "report.total")
    weeks = Sheet(
        "weeks",
        render(locale, "report.sheet.weeks"),
        (
            Column(_h(locale, "week"), "text", 18),
            Column(_h(locale, "hours"), "hours"),
            Column(_h(locale, "logs"), "int"),
            Column(_h(locale, "people"), "int"),
        ),
        [(w.label, hours_value(w.minutes), w.logs, w.people) for w in data.weeks],
        (total, hours_value(sum(w.minutes for w in data.weeks)), sum(w.logs for w in data.weeks), data.people),
        (render(locale, "report.note.weeks"),),
    )
    categories = Sheet(
        "categories",
        render(locale, "report.sheet.categories"),
        (
            Column(_h(locale, "category"), "text", 18),
            Column(_h(locale, "hours"), "hours"),
            Column(_h(locale, "logs"), "int"),
            Column(_h(locale, "points_earned"), "int"),
        ),
        [(c.name, hours_value(c.minutes), c.logs, c.points) for c in data.categories],
        (
            total,
            hours_value(sum(c.minutes for c in data.categories)),
            sum(c.logs for c in data.categories),
            sum(c.points for c in data.categories),
        ),
    )
    return [weeks, categories]
