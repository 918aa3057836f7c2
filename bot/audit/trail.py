"""The audit trail as a worker reads it (`/audit`): who did what to a person or an item, newest
first, one page at a time.

Pages are keyset pages on the entry id (`id < before`, newest first, on an index that starts with
the person or the subject), so the tenth page of a person with 10,000 entries costs what the
first page of a person with ten does; no page counts what it does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kernel.access import get_person, require_role
from bot.kernel.clock import Clock, Month, in_zone
from bot.kernel.clock import zone as get_zone
from bot.kernel.db import Database, reads
from bot.kernel.errors import NotAllowed, NotFound
from bot.kernel.i18n import catalogue, render
from bot.reports.service import Column, Sheet
from models import (
    AuditEntry,
    Base,
    Certificate,
    Community,
    CommunityMove,
    Elder,
    Person,
    Redemption,
    ServiceLog,
    ServiceRequest,
    ShopItem,
)

PAGE = 10

# An item's id prefix as the bot shows it (H12), the subject it is in the audit log, and its table.
ITEMS: dict[str, tuple[str, type[Base]]] = {
    "H": ("log", ServiceLog),
    "R": ("redemption", Redemption),
    "Q": ("request", ServiceRequest),
    "M": ("move", CommunityMove),
    "C": ("certificate", Certificate),
    "E": ("elder", Elder),
    "I": ("item", ShopItem),
}
PREFIXES = {subject: prefix for prefix, (subject, _) in ITEMS.items()}
# The detail worth showing beside an action: why a thing was refused, or how many points moved.
SHOWN = ("reason", "points", "paid", "amount", "total")


@dataclass(frozen=True)
class TrailLine:
    entry_id: int
    at: str  # the community's wall clock, "2026-12-03 14:05"
    actor: str | None  # None: the bot itself (a job)
    action: str
    ref: str | None  # the item the entry names, e.g. "H12"
    person: str | None  # the person it concerns, when it is not the one asked about
    details: dict


@dataclass(frozen=True)
class TrailPage:
    lines: list[TrailLine]
    before: int | None  # the cursor of the next page; None on the last one


class AuditTrail:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    @reads
    def of_person(self, viewer_id: int, community_id: int, person_id: int, before: int | None = None) -> TrailPage:
        """What was done to or for a member in this community, for its workers and the admins
        (an admin switches community to read another's). One index range: person, community,
        then id, read backwards from the cursor."""
        with self.db.read() as session:
            require_role(session, viewer_id, community_id, "worker")
            get_person(session, person_id)
            where = [AuditEntry.person_id == person_id, AuditEntry.community_id == community_id]
            return self._page(session, community_id, where, before, about=person_id)

    @reads
    def of_item(
        self, viewer_id: int, community_id: int | None, prefix: str, item_id: int, before: int | None = None
    ) -> TrailPage:
        """What was done to one item (H12, R4 …): of the viewer's community for a worker, of
        any community for an admin (who may belong to none)."""
        subject, table = ITEMS[prefix]
        with self.db.read() as session:
            viewer = get_person(session, viewer_id)
            if not viewer.is_admin:
                if community_id is None:
                    raise NotAllowed("error.no_community_yet")
                require_role(session, viewer_id, community_id, "worker")
            row = session.get(table, item_id)
            if row is None:
                raise NotFound("audit.no_item", ref=f"{prefix}{item_id}")
            homes: list[int] = []  # every table of ITEMS is one of these two kinds
            if isinstance(row, CommunityMove):
                homes = [row.from_community_id, row.to_community_id]
            elif isinstance(row, ServiceLog | Redemption | ServiceRequest | Certificate | Elder | ShopItem):
                homes = [row.community_id]
            if community_id not in homes and not viewer.is_admin:
                raise NotAllowed("audit.not_yours", ref=f"{prefix}{item_id}")
            where = [AuditEntry.subject_type == subject, AuditEntry.subject_id == item_id]
            home = community_id if community_id is not None and community_id in homes else homes[0]
            return self._page(session, home, where, before, about=None)

    def _page(
        self, session: Session, community_id: int, where: list[Any], before: int | None, about: int | None
    ) -> TrailPage:
        if before is not None:
            where = [*where, AuditEntry.id < before]
        rows = list(
            session.execute(
                select(
                    AuditEntry.id,
                    AuditEntry.created_at,
                    AuditEntry.actor_id,
                    AuditEntry.person_id,
                    AuditEntry.action,
                    AuditEntry.subject_type,
                    AuditEntry.subject_id,
                    AuditEntry.details,
                )
                .where(*where)
                .order_by(AuditEntry.id.desc())
                .limit(PAGE + 1)
            )
        )
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        ids = {r.actor_id for r in rows} | {r.person_id for r in rows}
        ids = {i for i in ids if i is not None}
        names = {
            pid: real or shown
            for pid, real, shown in session.execute(
                select(Person.id, Person.real_name, Person.display_name).where(Person.id.in_(ids))
            )
        }
        zone = self.clock.community(session.get(Community, community_id).timezone)  # type: ignore[union-attr]
        lines = [
            TrailLine(
                r.id,
                _local(r.created_at, zone.zone),
                names.get(r.actor_id) if r.actor_id else None,
                r.action,
                f"{PREFIXES[r.subject_type]}{r.subject_id}" if r.subject_type in PREFIXES and r.subject_id else None,
                names.get(r.person_id) if r.person_id not in (None, about, r.actor_id) else None,
                dict(r.details or {}),
            )
            for r in rows
        ]
        return TrailPage(lines, rows[-1].id if more else None)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return in_zone(moment, zone).strftime("%Y-%m-%d %H:%M")


def audit_section(session: Session, community_id: int, month: Month, locale: str) -> Sheet | None:
    """The report's 审计 sheet: every audited action of the community in the month, oldest first,
    with who took it, what it concerned and the reason or amount given."""
    rows = list(
        session.execute(
            select(
                AuditEntry.created_at,
                AuditEntry.actor_id,
                AuditEntry.action,
                AuditEntry.subject_type,
                AuditEntry.subject_id,
                AuditEntry.person_id,
                AuditEntry.details,
            )
            .where(
                AuditEntry.community_id == community_id,
                AuditEntry.created_at >= month.start,
                AuditEntry.created_at < month.end,
            )
            .order_by(AuditEntry.id)
        )
    )
    if not rows:
        return None
    ids = {i for r in rows for i in (r.actor_id, r.person_id) if i is not None}
    names = {
        pid: real or shown
        for pid, real, shown in session.execute(
            select(Person.id, Person.real_name, Person.display_name).where(Person.id.in_(ids))
        )
    }
    zone = get_zone(session.get(Community, community_id).timezone)  # type: ignore[union-attr]
    known = catalogue("zh-CN")
    bot = render(locale, "audit.by_bot")
    lines = [
        (
            _local(r.created_at, zone),
            names.get(r.actor_id, bot) if r.actor_id else bot,
            render(locale, f"audit.action.{r.action}") if f"audit.action.{r.action}" in known else r.action,
            f"{PREFIXES[r.subject_type]}{r.subject_id}" if r.subject_type in PREFIXES and r.subject_id else "",
            names.get(r.person_id, "") if r.person_id else "",
            "; ".join(f"{k}: {str((r.details or {})[k])[:80]}" for k in SHOWN if (r.details or {}).get(k)),
        )
        for r in rows
    ]
    columns = tuple(
        Column(render(locale, f"section.audit.{key}")) for key in ("at", "actor", "action", "item", "person", "detail")
    )
    return Sheet(
        "audit", render(locale, "section.audit.title"), columns, lines, notes=(render(locale, "section.audit.note"),)
    )
