"""Delivering notifications: each channel takes what is due for the people it reaches.

Taking marks rows delivered with a guarded UPDATE, so two processes never send the same row.
Rows sharing a coalesce key (e.g. "new pending logs") become one message, and at most one such
message a minute goes to a person."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import Database
from bot.i18n import Text
from models import Identity, Notification, Person

COALESCE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Delivery:
    person_id: int | None
    address: str  # the channel's chat id (person's private chat, or a group)
    locale: str
    text: Text
    count: int = 1  # notifications folded into this one


class OutboxService:
    def __init__(self, db: Database, clock: Clock, default_locale: str) -> None:
        self.db, self.clock, self.default_locale = db, clock, default_locale

    async def take(self, channel: str, person_id: int | None = None, limit: int = 200) -> list[Delivery]:
        """Undelivered notifications for people reachable on `channel` (and its group chats),
        or only for `person_id`; marked delivered as they are taken."""

        async def work(session: AsyncSession) -> list[Delivery]:
            reach = (
                select(Identity.person_id, Identity.external_id, Identity.chat_id)
                .where(Identity.channel == channel)
                .subquery()
            )
            stmt = (
                select(Notification, reach.c.external_id, reach.c.chat_id, Person.locale)
                .outerjoin(reach, reach.c.person_id == Notification.person_id)
                .outerjoin(Person, Person.id == Notification.person_id)
                .where(Notification.delivered_at.is_(None))
                .where(or_(reach.c.person_id.is_not(None), Notification.chat.like(f"{channel}:%")))
                .order_by(Notification.id)
                .limit(limit)
            )
            if person_id is not None:
                stmt = stmt.where(Notification.person_id == person_id)
            rows = (await session.execute(stmt)).all()
            now = self.clock.now()
            deliveries: list[Delivery] = []
            folded: dict[tuple[int | None, str], int] = {}
            for note, external_id, chat_id, locale in rows:
                group = (note.person_id, note.coalesce_key) if note.coalesce_key else None
                if group and group not in folded and await self._recently_sent(session, note, now):
                    continue  # wait: one such message a minute
                claimed = await session.execute(
                    update(Notification).where(Notification.id == note.id, Notification.delivered_at.is_(None))
                    .values(delivered_at=now)
                )
                if claimed.rowcount != 1:
                    continue
                if group in folded:
                    index = folded[group]
                    deliveries[index] = replace(deliveries[index], count=deliveries[index].count + 1)
                    continue
                if group:
                    folded[group] = len(deliveries)
                address = note.chat.split(":", 1)[1] if note.chat else (chat_id or external_id)
                params = dict(note.params)
                loc = params.pop("_locale", None) or locale or self.default_locale
                deliveries.append(Delivery(note.person_id, address, loc, Text(note.key, params)))
            # A folded message says how many it stands for.
            return [replace(d, text=Text(d.text.key, {**d.text.params, "count": d.count})) if i in folded.values() else d
                    for i, d in enumerate(deliveries)]

        return await self.db.transaction(work)

    @staticmethod
    async def _recently_sent(session: AsyncSession, note: Notification, now: datetime) -> bool:
        earlier = Notification.__table__.alias("earlier")
        return bool(await session.scalar(select(exists().where(and_(
            earlier.c.person_id == note.person_id, earlier.c.coalesce_key == note.coalesce_key,
            earlier.c.delivered_at.is_not(None), earlier.c.delivered_at > now - COALESCE_WINDOW,
        )))))
