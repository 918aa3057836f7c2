"""Balance, history and person-initiated moves of points (adjust, gift, donate), and the one
definition of points earned that every place showing it uses: the points of approved service
logs (service requests' hours included: they are logs too), counted by service date, in every
community the person served for their lifetime totals."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from bot.family.service import linked
from bot.kernel.access import get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads
from bot.kernel.errors import IdempotencyConflict, NotAllowed
from bot.ledger.service import Balance, HistoryItem, Ledger, TransferResult
from bot.messages.notify import notify
from models import Account, Person, Redemption, ServiceCategory, ServiceLog, ShopItem


@dataclass(frozen=True)
class Earned:
    minutes: int = 0
    logs: int = 0
    points: int = 0


def earned(session: Session, community_id: int, last: date, first: date | None = None) -> dict[int, Earned]:
    """Per person: hours served and points earned in the community from `first` (or ever) to
    `last`, by service date, approved logs only, whenever they were approved or paid."""
    log = ServiceLog
    rows = session.execute(
        select(log.person_id, func.sum(log.minutes), func.count(), func.sum(log.points))
        .where(
            log.community_id == community_id,
            log.status == "approved",
            log.service_date <= last,
            *(() if first is None else (log.service_date >= first,)),
        )
        .group_by(log.person_id)
    )
    return {person_id: Earned(int(m or 0), int(n), int(p or 0)) for person_id, m, n, p in rows}


def lifetime(session: Session, person_id: int) -> tuple[int, int]:
    """累计获得 and 累计服务 (points, minutes): the same sums over every approved log, kept on
    the person's account rows by the ledger, added up over every community they served in."""
    row = session.execute(
        select(
            func.coalesce(func.sum(Account.earned_points), 0), func.coalesce(func.sum(Account.earned_minutes), 0)
        ).where(Account.kind == "person", Account.person_id == person_id)
    ).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class HistoryLine(HistoryItem):
    """A history entry and what it was for: the service log's category, date and duration, the
    goods redeemed, the other person of a gift."""

    category: str | None = None
    category_en: str | None = None
    service_date: date | None = None
    minutes: int | None = None
    goods: str | None = None
    quantity: int | None = None
    counterpart: str | None = None


class PointsService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self.db, self.clock, self.ledger = db, clock, ledger

    @reads
    def balance(self, person_id: int, community_id: int) -> Balance:
        """Available and held here; the lifetime totals wherever the person served."""
        with self.db.read() as session:
            points, minutes = lifetime(session, person_id)
            return replace(
                self.ledger.balance(session, community_id, person_id), earned_points=points, earned_minutes=minutes
            )

    @reads
    def history(
        self, person_id: int, community_id: int, page: int = 0, page_size: int = 10
    ) -> tuple[list[HistoryLine], bool]:
        """A page of the person's points history, each entry with what it was for."""
        with self.db.read() as session:
            items, more = self.ledger.history(session, community_id, person_id, page=page, page_size=page_size)
            # Only the lookups this page needs (most pages are earnings only): a statement each.
            conn = session.connection()
            log_ids, goods_ids = _refs(items, "log"), _refs(items, "redemption")
            people_ids = {i.counterpart_id for i in items if i.counterpart_id}
            logs = {row.id: row for row in conn.execute(_LOGS, {"ids": list(log_ids)})} if log_ids else {}
            goods = {row.id: row for row in conn.execute(_GOODS, {"ids": list(goods_ids)})} if goods_ids else {}
            people = dict(conn.execute(_PEOPLE, {"ids": list(people_ids)}).all()) if people_ids else {}
        lines = []
        for i in items:
            log = logs.get(i.ref_id) if i.ref_type == "log" else None
            bought = goods.get(i.ref_id) if i.ref_type == "redemption" else None
            lines.append(
                HistoryLine(
                    **{f.name: getattr(i, f.name) for f in fields(HistoryItem)},
                    category=log.name if log else None,
                    category_en=log.name_en if log else None,
                    service_date=log.service_date if log else None,
                    minutes=log.minutes if log else None,
                    goods=bought.name if bought else None,
                    quantity=bought.quantity if bought else None,
                    counterpart=people.get(i.counterpart_id) if i.kind == "gift" and i.counterpart_id else None,
                )
            )
        return lines, more

    def adjust(
        self, actor_id: int, community_id: int, person_id: int, amount: int, reason: str, key: str
    ) -> TransferResult:
        """Manual correction by a worker or an admin, audited; never one's own account."""

        def work(session: Session) -> TransferResult:
            require_role(session, actor_id, community_id, "worker")
            if actor_id == person_id:
                raise NotAllowed("error.own_adjust")
            result = self.ledger.adjust(
                session,
                community_id=community_id,
                person_id=person_id,
                amount=amount,
                reason=reason,
                key=key,
                actor_id=actor_id,
            )
            if not result.replayed:
                audit(
                    session,
                    self.clock,
                    "points.adjust",
                    actor_id,
                    community_id,
                    "person",
                    person_id,
                    {"amount": amount, "reason": reason, "transfer": result.id},
                )
                notify(session, self.clock, person_id, "notify.adjusted", amount=amount, reason=reason)
            return result

        return self.db.transaction(work)

    def gift(
        self,
        person_id: int,
        community_id: int,
        to_person_id: int,
        amount: int,
        key: str,
        message: str | None = None,
    ) -> TransferResult:
        """转赠 to another member of the same community, or to family (亲情账户) in any community
        of the district, through the clearing accounts; a message goes to the receiver with it."""

        def work(session: Session) -> TransferResult:
            prior = self.ledger.prior(session, key)
            if prior is not None:  # a redelivery: whoever has moved since, the first gift stands
                if not self._same_gift(session, prior, key, person_id, to_person_id, amount):
                    raise IdempotencyConflict(key=key)
                return prior
            require_role(session, person_id, community_id, "resident")
            if role_in(session, to_person_id, community_id) is not None:
                result = self.ledger.gift(
                    session,
                    community_id=community_id,
                    from_person_id=person_id,
                    to_person_id=to_person_id,
                    amount=amount,
                    key=key,
                )
            else:
                to_community = (get_person(session, to_person_id)).community_id
                if (
                    to_community is None
                    or not linked(session, person_id, to_person_id)
                    or (role_in(session, to_person_id, to_community) is None)
                ):
                    raise NotAllowed("error.not_same_community")
                result = self.ledger.across(
                    session,
                    from_community_id=community_id,
                    from_person_id=person_id,
                    to_community_id=to_community,
                    to_person_id=to_person_id,
                    amount=amount,
                    kind="gift",
                    key=key,
                    actor_id=person_id,
                )
            if not result.replayed:
                sender = get_person(session, person_id)
                if message:
                    notify(
                        session,
                        self.clock,
                        to_person_id,
                        "notify.gift_received_message",
                        amount=amount,
                        sender=sender.display_name,
                        message=message,
                    )
                else:
                    notify(
                        session,
                        self.clock,
                        to_person_id,
                        "notify.gift_received",
                        amount=amount,
                        sender=sender.display_name,
                    )
            return result

        return self.db.transaction(work)

    def _same_gift(
        self,
        session: Session,
        prior: TransferResult,
        key: str,
        person_id: int,
        to_person_id: int,
        amount: int,
    ) -> bool:
        """Whether the transfer made under `key` is this gift: same giver, recipient and amount."""
        giving = self.ledger.person_accounts(session, person_id)
        if prior.kind != "gift" or prior.amount != amount or prior.debit_account_id not in giving:
            return False
        receiving = self.ledger.person_accounts(session, to_person_id)
        if prior.credit_account_id in receiving:
            return True
        incoming = self.ledger.prior(session, f"{key}:in")  # across communities: the second leg
        return incoming is not None and incoming.credit_account_id in receiving

    def donate(self, person_id: int, community_id: int, amount: int, key: str) -> TransferResult:
        def work(session: Session) -> TransferResult:
            require_role(session, person_id, community_id, "resident")
            return self.ledger.donate(session, community_id=community_id, person_id=person_id, amount=amount, key=key)

        return self.db.transaction(work)


def _refs(items: list[HistoryItem], ref_type: str) -> list[int]:
    return [i.ref_id for i in items if i.ref_type == ref_type and i.ref_id is not None]


# What history lines were for, built once (`ids` expands to the page's ids).
_LOGS = (
    select(ServiceLog.id, ServiceCategory.name, ServiceCategory.name_en, ServiceLog.service_date, ServiceLog.minutes)
    .join(ServiceCategory, ServiceCategory.id == ServiceLog.category_id)
    .where(ServiceLog.id.in_(bindparam("ids", expanding=True)))
)
_GOODS = (
    select(Redemption.id, ShopItem.name, Redemption.quantity)
    .join(ShopItem, ShopItem.id == Redemption.item_id)
    .where(Redemption.id.in_(bindparam("ids", expanding=True)))
)
_PEOPLE = select(Person.id, func.coalesce(Person.real_name, Person.display_name)).where(
    Person.id.in_(bindparam("ids", expanding=True))
)
