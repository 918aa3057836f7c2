"""Audit entries for privileged actions, written in the action's own transaction.

Each entry names the person it concerns, so `/audit NAME` pages one index: given outright, or
the person a proxy acted for (`details["for"]`), or the owner of the subject (whose log, whose
redemption). The subject's row is almost always already in the session's identity map (the
action just read or changed it), so finding its owner costs no query.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from models import (
    AuditEntry,
    Base,
    Certificate,
    CommunityMove,
    Elder,
    Person,
    Redemption,
    ServiceLog,
    ServiceRequest,
)

# The kinds of subject an entry may name, the table each is a row of, and its owner's column.
SUBJECTS: dict[str, tuple[type[Base], str]] = {
    "person": (Person, "id"),
    "log": (ServiceLog, "person_id"),
    "redemption": (Redemption, "person_id"),
    "request": (ServiceRequest, "requester_id"),
    "certificate": (Certificate, "person_id"),
    "move": (CommunityMove, "person_id"),
    "elder": (Elder, "person_id"),
}


def audit(
    session: Session,
    clock: Clock,
    action: str,
    actor_id: int | None,
    community_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    details: dict | None = None,
    *,
    person_id: int | None = None,
) -> None:
    details = details or {}
    concerned = person_id if person_id is not None else details.get("for")
    if concerned is None and subject_type in SUBJECTS and subject_id is not None:
        table, column = SUBJECTS[subject_type]
        row = session.get(table, subject_id)
        concerned = getattr(row, column) if row is not None else None
    session.add(
        AuditEntry(
            community_id=community_id,
            actor_id=actor_id,
            person_id=concerned if isinstance(concerned, int) else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details,
            created_at=clock.now(),
        )
    )
