"""Limits on guessing one-time codes (`/link`, `/family accept`): each wrong or expired code a
person types is audited, and GUESSES of them within the window lock that person out of the
code until the window has passed. Counted from the audit log (its actor/action index), so every
process sees the same count and a lock-out needs no state of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.errors import DomainError, NotAllowed, NotFound
from models import AuditEntry


@dataclass(frozen=True)
class Guesses:
    action: str  # the audit action of a wrong code, e.g. "identity.wrong_code"
    locked_key: str  # the lock-out message, with {minutes}
    wrong_key: str  # a wrong code, with {left}
    limit: int = 10
    window: timedelta = timedelta(minutes=10)

    @property
    def minutes(self) -> int:
        return int(self.window.total_seconds() // 60)

    def recent(self, session: Session, clock: Clock, person_id: int) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.actor_id == person_id,
                    AuditEntry.action == self.action,
                    AuditEntry.created_at > clock.now() - self.window,
                )
            )
            or 0
        )

    def check(self, session: Session, clock: Clock, person_id: int) -> None:
        """Refuses a person locked out, before their code is even looked at."""
        if self.recent(session, clock, person_id) >= self.limit:
            raise NotAllowed(self.locked_key, minutes=self.minutes)

    def wrong(self, db: Database, clock: Clock, person_id: int, code: str, **params: object) -> DomainError:
        """Audits a wrong code in its own transaction (the refused action wrote nothing) and
        returns the refusal: how many tries are left, or the lock-out."""

        def work(session: Session) -> int:
            audit(session, clock, self.action, person_id, details={"code": code[:16]})
            session.flush()
            return self.recent(session, clock, person_id)

        used = db.transaction(work)
        if used >= self.limit:
            return NotAllowed(self.locked_key, minutes=self.minutes)
        return NotFound(self.wrong_key, left=self.limit - used, **params)
