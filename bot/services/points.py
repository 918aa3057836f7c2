"""Balance, history and person-initiated moves of points (adjust, gift, donate)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import Database
from bot.errors import IdempotencyConflict, NotAllowed
from bot.services.access import get_person, require_role, role_in
from bot.services.audit import audit
from bot.services.family import linked
from bot.services.ledger import Balance, HistoryItem, Ledger, TransferResult
from bot.services.notify import notify


class PointsService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db, self.clock, self.ledger = db, clock, ledger

    async def balance(self, person_id: int, community_id: int) -> Balance:
        async with self.db.read() as uow:
            return await self.ledger.balance(uow.session, community_id, person_id)

    async def history(self, person_id: int, community_id: int, page: int = 0, page_size: int = 10) -> tuple[list[HistoryItem], bool]:
        async with self.db.read() as uow:
            return await self.ledger.history(uow.session, community_id, person_id, page=page, page_size=page_size)

    async def adjust(self, actor_id: int, community_id: int, person_id: int, amount: int, reason: str, key: str) -> TransferResult:
        """Manual correction by a worker or an admin, audited; never one's own account."""

        async def work(session: AsyncSession) -> TransferResult:
            await require_role(session, actor_id, community_id, "worker")
            if actor_id == person_id:
                raise NotAllowed("error.own_adjust")
            result = await self.ledger.adjust(
                session, community_id=community_id, person_id=person_id, amount=amount, reason=reason,
                key=key, actor_id=actor_id,
            )
            if not result.replayed:
                await audit(session, self.clock, "points.adjust", actor_id, community_id, "person", person_id,
                            {"amount": amount, "reason": reason, "transfer": result.id})
                await notify(session, self.clock, person_id, "notify.adjusted", amount=amount, reason=reason)
            return result

        return await self.db.transaction(work)

    async def gift(self, person_id: int, community_id: int, to_person_id: int, amount: int, key: str) -> TransferResult:
        """转赠 to another member of the same community, or to family (亲情账户) in any community
        of the district, through the clearing accounts."""

        async def work(session: AsyncSession) -> TransferResult:
            prior = await self.ledger.prior(session, key)
            if prior is not None:  # a redelivery: whoever has moved since, the first gift stands
                if not await self._same_gift(session, prior, key, person_id, to_person_id, amount):
                    raise IdempotencyConflict(key=key)
                return prior
            await require_role(session, person_id, community_id, "resident")
            if await role_in(session, to_person_id, community_id) is not None:
                result = await self.ledger.gift(
                    session, community_id=community_id, from_person_id=person_id, to_person_id=to_person_id,
                    amount=amount, key=key,
                )
            else:
                to_community = (await get_person(session, to_person_id)).community_id
                if to_community is None or not await linked(session, person_id, to_person_id) or (
                    await role_in(session, to_person_id, to_community) is None
                ):
                    raise NotAllowed("error.not_same_community")
                result = await self.ledger.across(
                    session, from_community_id=community_id, from_person_id=person_id,
                    to_community_id=to_community, to_person_id=to_person_id, amount=amount, kind="gift", key=key,
                    actor_id=person_id,
                )
            if not result.replayed:
                sender = await get_person(session, person_id)
                await notify(session, self.clock, to_person_id, "notify.gift_received", amount=amount,
                             sender=sender.display_name)
            return result

        return await self.db.transaction(work)

    async def _same_gift(
        self, session: AsyncSession, prior: TransferResult, key: str, person_id: int, to_person_id: int, amount: int,
    ) -> bool:
        """Whether the transfer made under `key` is this gift: same giver, recipient and amount."""
        giving = await self.ledger.person_accounts(session, person_id)
        if prior.kind != "gift" or prior.amount != amount or prior.debit_account_id not in giving:
            return False
        receiving = await self.ledger.person_accounts(session, to_person_id)
        if prior.credit_account_id in receiving:
            return True
        incoming = await self.ledger.prior(session, f"{key}:in")  # across communities: the second leg
        return incoming is not None and incoming.credit_account_id in receiving

    async def donate(self, person_id: int, community_id: int, amount: int, key: str) -> TransferResult:
        async def work(session: AsyncSession) -> TransferResult:
            await require_role(session, person_id, community_id, "resident")
            return await self.ledger.donate(session, community_id=community_id, person_id=person_id, amount=amount, key=key)

        return await self.db.transaction(work)
