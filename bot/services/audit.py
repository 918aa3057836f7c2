"""Audit entries for privileged actions, written in the action's own transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.clock import Clock
from models import AuditEntry


def audit(
    session: Session, clock: Clock, action: str, actor_id: int | None, community_id: int | None = None,
    subject_type: str | None = None, subject_id: int | None = None, details: dict | None = None,
) -> None:
    session.add(AuditEntry(
        community_id=community_id, actor_id=actor_id, action=action, subject_type=subject_type,
        subject_id=subject_id, details=details or {}, created_at=clock.now(),
    ))
