"""Service hours (志愿服务时长): the one definition every record of service uses — a certificate,
a star level, the export for the national volunteer system. The minutes of a person's approved
service logs in a community, by service date; a service request's hours are an approved log of
its category once it is paid, so they count as service like any other. Pending and rejected
logs never count."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import ServiceCategory, ServiceLog


def counted(community_id: int, start: date | None = None, end: date | None = None) -> list[Any]:
    """The conditions that make a log count as service in the community between two service
    dates (inclusive; None: unbounded)."""
    log = ServiceLog
    where: list[Any] = [log.community_id == community_id, log.status == "approved"]
    if start is not None:
        where.append(log.service_date >= start)
    if end is not None:
        where.append(log.service_date <= end)
    return where


def by_category(
    session: Session, person_id: int, community_id: int, start: date | None = None, end: date | None = None
) -> list[tuple[str, int]]:
    """(category, minutes), most minutes first: what a certificate lists as 服务内容."""
    rows = session.execute(
        select(ServiceCategory.name, func.sum(ServiceLog.minutes))
        .join(ServiceCategory, ServiceCategory.id == ServiceLog.category_id)
        .where(ServiceLog.person_id == person_id, *counted(community_id, start, end))
        .group_by(ServiceCategory.name)
    )
    return sorted(((str(name), int(minutes)) for name, minutes in rows), key=lambda r: (-r[1], r[0]))


def total(
    session: Session, person_id: int, community_id: int, start: date | None = None, end: date | None = None
) -> int:
    """The person's service minutes in the community (what star levels count, all time)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(ServiceLog.minutes), 0)).where(
                ServiceLog.person_id == person_id, *counted(community_id, start, end)
            )
        )
        or 0
    )


def totals(session: Session, person_ids: set[int], community_id: int) -> dict[int, int]:
    """All-time service minutes of several people in one community, in one query."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(ServiceLog.person_id, func.sum(ServiceLog.minutes))
        .where(ServiceLog.person_id.in_(sorted(person_ids)), *counted(community_id))
        .group_by(ServiceLog.person_id)
    )
    return {int(p): int(m or 0) for p, m in rows}


def totals_in(session: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """All-time service minutes of (community, person) pairs, in one grouped query."""
    if not pairs:
        return {}
    log = ServiceLog
    rows = session.execute(
        select(log.community_id, log.person_id, func.sum(log.minutes))
        .where(
            log.person_id.in_(sorted({p for _, p in pairs})),
            log.community_id.in_(sorted({c for c, _ in pairs})),
            log.status == "approved",
        )
        .group_by(log.community_id, log.person_id)
    )
    return {(int(c), int(p)): int(m or 0) for c, p, m in rows if (c, p) in pairs}
