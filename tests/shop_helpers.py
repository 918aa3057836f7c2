"""Helpers the supermarket tests share: a chat driver over the dialog engine, funding, and
direct reads of what the services wrote."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.services import Services
from models import Account, Notification, Redemption, ShopItem, Transfer
from tests.world import World


@dataclass
class Said:
    texts: list[str]
    options: list[str]  # option values in the order they are numbered
    keys: list[str]  # the catalogue keys of the replies

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class Chat:
    """A console-style conversation through the real dialog engine."""

    def __init__(self, services: Services) -> None:
        self.dialogs = Dialogs(services)

    async def say(self, handle: str, line: str, request_key: str | None = None) -> Said:
        return await self.send(handle, Input(text=line, request_key=request_key))

    async def press(self, handle: str, value: str) -> Said:
        """A button press as Telegram sends it: the option's value, possibly a stale one."""
        return await self.send(handle, Input(option=value))

    async def send(self, handle: str, inp: Input) -> Said:
        turn = await self.dialogs.handle(Caller("console", handle, display_name=handle, handle=handle), inp)
        options = [o.value for r in turn.replies for o in r.options]
        return Said(self.dialogs.render(turn.locale, turn.replies), options, [r.text.key for r in turn.replies])

    async def choose(self, handle: str, said: Said, value: str) -> Said:
        """Answer with the number the console shows for the option with `value`."""
        return await self.say(handle, str(said.options.index(value) + 1))


async def fund(services: Services, w: World, person_id: int, amount: int) -> None:
    await services.db.run(
        services.db.transaction,
        lambda s: services.ledger.earn(
            s, community_id=w.community_id, person_id=person_id, amount=amount, key=f"fund:{person_id}:{amount}"
        ),
    )


async def account(
    services: Services, community_id: int, person_id: int | None, kind: str = "person"
) -> tuple[int, int]:
    """(posted, pending) as stored."""
    with services.db.uow() as session:
        owner = Account.person_id.is_(None) if person_id is None else Account.person_id == person_id
        row = (
            session.execute(
                select(Account.posted, Account.pending).where(
                    Account.community_id == community_id, Account.kind == kind, owner
                )
            )
        ).one()
        return row.posted, row.pending


async def stock(services: Services, item_id: int) -> int | None:
    with services.db.uow() as session:
        return session.scalar(select(ShopItem.stock).where(ShopItem.id == item_id))


async def redemption(services: Services, redemption_id: int) -> Redemption:
    with services.db.uow() as session:
        found = session.get(Redemption, redemption_id)
        assert found is not None
        return found


async def count_transfers(services: Services, **where: object) -> int:
    with services.db.uow() as session:
        stmt = select(func.count()).select_from(Transfer)
        for column, value in where.items():
            stmt = stmt.where(getattr(Transfer, column) == value)
        return session.scalar(stmt)


async def notification_keys(services: Services, person_id: int) -> list[str]:
    with services.db.uow() as session:
        return list(
            session.scalars(
                select(Notification.key).where(Notification.person_id == person_id).order_by(Notification.id)
            )
        )


async def snapshot(services: Services) -> tuple:
    """Everything a supermarket action could write, to show that a refusal wrote nothing."""
    with services.db.uow() as session:
        run = session.execute
        accounts = (run(text("SELECT id, posted, pending FROM accounts ORDER BY id"))).all()
        items = (run(text("SELECT id, stock, price, name, active FROM shop_items ORDER BY id"))).all()
        redemptions = (
            run(text("SELECT id, status, pickup_code, decided_by_id, handed_over_by_id FROM redemptions ORDER BY id"))
        ).all()
        counts = [
            (run(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("transfers", "stock_movements", "audit_log", "notifications")
        ]
        return tuple(map(tuple, accounts)), tuple(map(tuple, items)), tuple(map(tuple, redemptions)), tuple(counts)
