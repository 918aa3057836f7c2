"""How many messages a platform still lets the bot push to one person, counted in the database
so every process spends from one count. Channel-free: a channel says when an allowance opens
(`open`: a person's message or event, with how many and for how long) and spends from it before
each push (`spend`); the platform's own "spent" (`exhaust`) closes it early. A person can hold
several allowances at once (kinds, e.g. one after a message and a short one after a click): a
push spends from the one that closes first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.kernel.clock import Clock
from bot.kernel.db import Database, insert, reads, rowcount
from models import SendBudget


class SendBudgets:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def open(self, session: Session, channel: str, address: str, kind: str, allowed: int, seconds: float) -> None:
        """A new allowance of `kind` from now (in the transaction that settles the person's
        message): whatever was left of the previous one of that kind is replaced."""
        now = self.clock.now()
        values = {"opened_at": now, "until": now + timedelta(seconds=seconds), "allowed": allowed, "used": 0}
        session.execute(
            insert(session, SendBudget)
            .values(channel=channel, address=address, kind=kind, **values)
            .on_conflict_do_update(index_elements=["channel", "address", "kind"], set_=values)
        )

    @reads
    def remaining(self, channel: str, address: str) -> int:
        now = self.clock.now()
        with self.db.read() as session:
            rows = session.execute(
                select(SendBudget.allowed, SendBudget.used).where(
                    SendBudget.channel == channel, SendBudget.address == address, SendBudget.until > now
                )
            ).all()
        return sum(max(allowed - used, 0) for allowed, used in rows)

    def spend(self, channel: str, address: str) -> str | None:
        """Take one push from what is left (the allowance closing first): the allowance's kind,
        None when nothing is left. Guarded in the UPDATE, so two processes never spend the same
        last one."""
        now = self.clock.now()

        def work(session: Session) -> str | None:
            kinds = session.scalars(
                select(SendBudget.kind)
                .where(
                    SendBudget.channel == channel,
                    SendBudget.address == address,
                    SendBudget.until > now,
                    SendBudget.used < SendBudget.allowed,
                )
                .order_by(SendBudget.until)
            ).all()
            for kind in kinds:
                done = session.execute(
                    update(SendBudget)
                    .where(
                        SendBudget.channel == channel,
                        SendBudget.address == address,
                        SendBudget.kind == kind,
                        SendBudget.until > now,
                        SendBudget.used < SendBudget.allowed,
                    )
                    .values(used=SendBudget.used + 1)
                )
                if rowcount(done) == 1:
                    return kind
            return None

        return self.db.transaction(work)

    def refund(self, channel: str, address: str, kind: str) -> None:
        """A push taken for a message the platform did not take (it was down): given back."""
        self.db.transaction(
            lambda session: session.execute(
                update(SendBudget)
                .where(
                    SendBudget.channel == channel,
                    SendBudget.address == address,
                    SendBudget.kind == kind,
                    SendBudget.used > 0,
                )
                .values(used=SendBudget.used - 1)
            )
        )

    def exhaust(self, channel: str, address: str) -> None:
        """The platform says nothing more may go to this person now (it counted differently)."""
        now = self.clock.now()
        self.db.transaction(
            lambda session: session.execute(
                update(SendBudget)
                .where(SendBudget.channel == channel, SendBudget.address == address, SendBudget.until > now)
                .values(used=SendBudget.allowed)
            )
        )
