"""The monthly report's sheets beyond the volunteers and the ledger: the supermarket's and the
visits' (here), the teams', decisions on time and service requests' (in their modules). Each is
read inside the report's own session; SECTIONS is their order in the report."""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from bot.audit.trail import audit_section
from bot.deadlines.service import decisions_section, overdue_section
from bot.elders.cadence import VisitCadence, due_of, local_date
from bot.kernel.access import get_community
from bot.kernel.clock import Month, zone
from bot.kernel.i18n import render
from bot.reports.service import Column, Section, Sheet
from bot.requests.service import requests_section
from bot.shop.service import reconcile_in
from bot.teams.service import teams_tags_section
from models import Elder, Grid, Redemption, ShopItem, VisitRecord

# Outcomes that mean the elder was seen or spoken to; "not at home" is an attempt, not contact.
CONTACT = ("well", "needs_help", "hospital")


def stock_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Redemptions and stock (账物相符): each item's movements and the points it took in."""
    community = get_community(session, community_id)
    # "now" at the month's end: the report shows movements; the shelf check is /reconcile's.
    recon = reconcile_in(session, community, month, month.end)
    if not recon.lines:
        return None
    points = dict(
        (
            session.execute(
                select(Redemption.item_id, func.sum(Redemption.total))
                .where(
                    Redemption.community_id == community_id,
                    Redemption.status == "done",
                    Redemption.closed_at >= month.start,
                    Redemption.closed_at < month.end,
                )
                .group_by(Redemption.item_id)
            )
        ).all()
    )
    prices = dict(
        (session.execute(select(ShopItem.id, ShopItem.price).where(ShopItem.community_id == community_id))).all()
    )
    unlimited = render(locale, "section.unlimited")
    yes, no = render(locale, "section.yes"), render(locale, "section.no")
    rows = [
        (
            f"I{line.item_id}",
            line.name,
            prices.get(line.item_id, 0),
            unlimited if line.unlimited else line.opening,
            line.restocked,
            line.reserved,
            line.handed_over,
            line.released,
            unlimited if line.unlimited else line.closing,
            int(points.get(line.item_id) or 0),
            yes if line.balanced else no,
        )
        for line in recon.lines
    ]
    total = (
        "",
        render(locale, "section.total"),
        "",
        "",
        sum(r[4] for r in rows),
        sum(r[5] for r in rows),
        sum(r[6] for r in rows),
        sum(r[7] for r in rows),
        "",
        sum(r[9] for r in rows),
        yes if recon.balanced else no,
    )
    columns = tuple(
        Column(render(locale, f"section.stock.{key}"), kind)
        for key, kind in (
            ("id", "text"),
            ("item", "text"),
            ("price", "int"),
            ("opening", "int"),
            ("restocked", "int"),
            ("reserved", "int"),
            ("handed_over", "int"),
            ("released", "int"),
            ("closing", "int"),
            ("points", "int"),
            ("balanced", "text"),
        )
    )
    return Sheet(
        "stock", render(locale, "section.stock.title"), columns, rows, total, (render(locale, "section.stock.note"),)
    )


def visits_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """Visits done against due, per elder, and who was overdue at the month's end."""
    community = get_community(session, community_id)
    tz = zone(community.timezone)
    cadence = VisitCadence.from_options(community.options)
    r = VisitRecord
    contact = r.outcome.in_(CONTACT)
    in_month = and_(r.community_id == community_id, r.at >= month.start, r.at < month.end)
    # On the roster in the month, or visited or called in it: a roster imported later with the
    # month's visits recorded for their dates still shows them.
    first_record = dict(
        (session.execute(select(r.elder_id, func.min(r.at)).where(in_month).group_by(r.elder_id))).all()
    )
    elders = (
        session.execute(
            select(Elder, Grid.name)
            .outerjoin(Grid, Grid.id == Elder.grid_id)
            .where(
                Elder.community_id == community_id,
                or_(Elder.added_at < month.end, Elder.id.in_(list(first_record))),
                or_(Elder.retired_at.is_(None), Elder.retired_at >= month.start),
            )
            .order_by(Grid.name, Elder.id)
        )
    ).all()
    if not elders:
        return None
    counts = {
        elder_id: (int(visits or 0), int(calls or 0), int(verified or 0))
        for elder_id, visits, calls, verified in (
            session.execute(
                select(
                    r.elder_id,
                    func.sum(case((and_(r.kind == "visit", contact), 1), else_=0)),
                    func.sum(case((and_(r.kind == "call", contact), 1), else_=0)),
                    # Checked in by scanning the elder's door card: the visitor was there.
                    func.sum(case((and_(r.kind == "visit", contact, r.verified), 1), else_=0)),
                )
                .where(in_month)
                .group_by(r.elder_id)
            )
        ).all()
    }
    before_end = and_(r.community_id == community_id, r.at < month.end, contact)
    last_visit = dict(
        (
            session.execute(
                select(r.elder_id, func.max(r.at)).where(before_end, r.kind == "visit").group_by(r.elder_id)
            )
        ).all()
    )
    last_contact = dict(
        (session.execute(select(r.elder_id, func.max(r.at)).where(before_end).group_by(r.elder_id))).all()
    )
    # Each elder's last wellbeing answers up to the month's end (the latest record with any).
    latest = (
        select(r.elder_id, func.max(r.id).label("id"))
        .where(r.community_id == community_id, r.at < month.end, r.mood.is_not(None))
        .group_by(r.elder_id)
        .subquery()
    )
    answers = {
        elder_id: (mood, health, need, note)
        for elder_id, mood, health, need, note in session.execute(
            select(r.elder_id, r.mood, r.health, r.need, r.next_note).join(latest, latest.c.id == r.id)
        )
    }

    def said(question: str, value: str | None) -> str:
        return render(locale, f"wellbeing.{question}.{value}") if value else "—"

    days = (month.last - month.first).days + 1
    rows, overdue_count = [], 0
    for elder, grid in elders:
        rule_days = cadence.rule(cadence.kind_of(elder.lives_alone, elder.risk, elder.birth_year, month.last)).visit
        since = min(elder.added_at, first_record.get(elder.id, elder.added_at))
        active_days = days - max(0, (local_date(since, tz) - month.first).days)
        # Visits due: whole cycles in the days the elder was on the roster this month, at least one.
        due_visits = max(1, active_days // rule_days)
        visits, calls, verified = counts.get(elder.id, (0, 0, 0))
        due = due_of(
            cadence,
            lives_alone=elder.lives_alone,
            risk=elder.risk,
            birth_year=elder.birth_year,
            added_at=since,
            last_visit_at=last_visit.get(elder.id),
            last_call_at=last_contact.get(elder.id),
            today=month.last,
            tz=tz,
        )
        overdue = max(0, (month.last - due.next_visit).days)
        overdue_count += overdue > 0
        last = last_visit.get(elder.id)
        rows.append(
            (
                f"E{elder.id}",
                elder.name,
                grid or "",
                rule_days,
                due_visits,
                visits,
                verified,
                visits - verified,
                calls,
                local_date(last, tz) if last else "",
                overdue or "",
                *(
                    (
                        render(
                            locale,
                            "section.visits.answers",
                            {"mood": said("mood", a[0]), "health": said("health", a[1]), "need": said("need", a[2])},
                        ),
                        a[3] or "",
                    )
                    if (a := answers.get(elder.id))
                    else ("", "")
                ),
            )
        )
    total = (
        "",
        render(locale, "section.total"),
        "",
        "",
        sum(r[4] for r in rows),
        sum(r[5] for r in rows),
        sum(r[6] for r in rows),
        sum(r[7] for r in rows),
        sum(r[8] for r in rows),
        "",
        overdue_count,
        "",
        "",
    )
    columns = tuple(
        Column(render(locale, f"section.visits.{key}"), kind)
        for key, kind in (
            ("id", "text"),
            ("name", "text"),
            ("grid", "text"),
            ("every", "int"),
            ("due", "int"),
            ("done", "int"),
            ("verified", "int"),
            ("typed", "int"),
            ("calls", "int"),
            ("last", "date"),
            ("overdue", "int"),
            ("wellbeing", "text"),
            ("next_note", "text"),
        )
    )
    return Sheet(
        "visits", render(locale, "section.visits.title"), columns, rows, total, (render(locale, "section.visits.note"),)
    )


SECTIONS: tuple[Section, ...] = (
    teams_tags_section,
    decisions_section,
    overdue_section,
    stock_section,
    visits_section,
    requests_section,
    audit_section,
)
