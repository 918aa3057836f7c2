"""What keeps failing, for operators (`lovebank parked`): totals, a page at a time, and sending
all of it back at once after the cause is fixed.

Parked updates are the inbox's (its rule for sending one back: `InboxService.retry_parked`),
parked notifications the outbox's. A notification belongs to a channel through its group chat
("wechat:…") or through the person's identity on that channel (`outbox.for_channel`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVarTuple

from sqlalchemy import Select, func, select

from bot.kernel.channels import CHANNELS
from bot.kernel.db import Database, reads
from bot.messages.inbox import InboxService, Parked
from bot.messages.outbox import OutboxService, ParkedNotification, for_channel, parked_notification
from models import InboxEntry, Notification

PAGE = 50
Columns = TypeVarTuple("Columns")  # a statement keeps its columns' types through the filters


@dataclass(frozen=True)
class Totals:
    updates: dict[str, int]  # channel → parked updates
    notifications: dict[str, int]  # channel → parked notifications (a person on two channels counts on each)
    notifications_total: int

    @property
    def updates_total(self) -> int:
        return sum(self.updates.values())


@dataclass(frozen=True)
class Page:
    number: int
    pages: int
    updates: list[Parked]
    notifications: list[ParkedNotification]


def _updates(stmt: Select[*Columns], channel: str | None) -> Select[*Columns]:
    stmt = stmt.where(InboxEntry.status == "parked")
    return stmt.where(InboxEntry.channel == channel) if channel else stmt


def _notifications(stmt: Select[*Columns], channel: str | None) -> Select[*Columns]:
    stmt = stmt.where(parked_notification())
    return stmt.where(for_channel(channel)) if channel else stmt


class ParkedWork:
    def __init__(self, db: Database, inbox: InboxService, outbox: OutboxService) -> None:
        self.db, self.inbox, self.outbox = db, inbox, outbox

    @reads
    def totals(self, channel: str | None = None) -> Totals:
        with self.db.read() as session:
            rows = session.execute(
                _updates(select(InboxEntry.channel, func.count()), channel).group_by(InboxEntry.channel)
            ).all()
            notes = {
                name: n
                for name in ([channel] if channel else CHANNELS)
                if (n := session.scalar(_notifications(select(func.count()).select_from(Notification), name)))
            }
            total = session.scalar(_notifications(select(func.count()).select_from(Notification), channel))
        return Totals({name: n for name, n in rows}, notes, total or 0)

    @reads
    def page(self, number: int, channel: str | None = None, size: int = PAGE) -> Page:
        """Page `number` (from 1) of the parked updates, then the parked notifications, oldest
        first; a number past the end gives the last page."""
        totals = self.totals(channel)
        pages = max(1, -(-(totals.updates_total + totals.notifications_total) // size))
        number = min(max(number, 1), pages)
        skip = (number - 1) * size
        with self.db.read() as session:
            updates = [
                Parked(*row)
                for row in session.execute(
                    _updates(
                        select(
                            InboxEntry.id,
                            InboxEntry.channel,
                            InboxEntry.platform_id,
                            InboxEntry.sender,
                            InboxEntry.attempts,
                            InboxEntry.error,
                            InboxEntry.received_at,
                        ),
                        channel,
                    )
                    .order_by(InboxEntry.id)
                    .offset(skip)
                    .limit(size)
                ).all()
            ]
            notes: list[ParkedNotification] = []
            if len(updates) < size:
                notes = [
                    ParkedNotification(*row)
                    for row in session.execute(
                        _notifications(
                            select(
                                Notification.id,
                                Notification.person_id,
                                Notification.chat,
                                Notification.key,
                                Notification.attempts,
                                Notification.error,
                                Notification.created_at,
                            ),
                            channel,
                        )
                        .order_by(Notification.id)
                        .offset(max(skip - totals.updates_total, 0))
                        .limit(size - len(updates))
                    ).all()
                ]
        return Page(number, pages, updates, notes)

    def retry_all(self, channel: str | None = None) -> tuple[int, int]:
        """Every parked update and notification (of `channel`) goes again; how many of each."""
        with self.db.read() as session:
            ids = list(session.scalars(_updates(select(InboxEntry.id), channel).order_by(InboxEntry.id)))
        updates = sum(1 for entry_id in ids if self.inbox.retry_parked(entry_id))  # the inbox's rule, one by one
        return updates, self.outbox.retry_all_parked(channel)
