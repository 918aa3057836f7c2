"""Property test of the supermarket: random interleavings of redeem, approve, reject, cancel,
pickup, expire (the clock moves), restock and replays, each through the shop service in its own
transaction. Each redemption follows a journey (redeem, then e.g. approve → pickup, or approve →
reject, or cancel twice) and Hypothesis interleaves the journeys' steps with one another and with
waits, restocks, wrong codes and replayed requests. A small model predicts which steps must
succeed and which must be refused; after every step the database must agree with it, stock must
be >= 0, the ledger invariants must hold, and the stock reconciliation must add up (and its
closing equal the shelf).

Every example builds its own community inside the test's database (Hypothesis does not give
examples fresh fixtures) and starts the clock afresh."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.kernel.clock import FixedClock
from bot.kernel.errors import (
    AlreadyDecided,
    DomainError,
    InsufficientPoints,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfStock,
)
from bot.services import Services
from bot.shop.service import OPEN
from models import Account, Redemption, ShopItem
from tests.conftest import T0
from tests.ledger import ledger_invariants
from tests.world import person

PEOPLE = 3
PRICES = (10, 25, 7)
STOCKS = (3, 1, None)  # the last is a service with no limit
EXPIRY_DAYS = 7

people = st.integers(0, PEOPLE - 1)
items = st.integers(0, len(PRICES) - 1)
# What happens to a redemption after it is made; presses repeat and contradict each other on
# purpose, and a journey with no decision waits for the expiry.
FATES = (
    ("approve", "pickup"),
    ("approve", "pickup", "pickup"),
    ("approve", "approve"),
    ("reject",),
    ("approve", "reject", "pickup"),
    ("cancel",),
    ("cancel", "cancel", "approve", "pickup"),
    ("approve", "cancel", "reject"),
    ("reject", "approve", "cancel"),
    (),
    ("approve",),
)
journeys = st.lists(st.tuples(people, items, st.integers(1, 3), st.sampled_from(FATES)), min_size=2, max_size=6)
extras = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.sampled_from((1, 3, 8))),  # 8 days: every open hold expires
        st.tuples(st.just("restock"), items, st.integers(-3, 4).filter(bool)),
        st.tuples(st.just("wrong_code")),
        st.tuples(st.just("replay"), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=6,
)


@dataclass
class Model:
    stock: list[int | None]
    posted: list[int]
    pending: list[int] = field(default_factory=lambda: [0] * PEOPLE)
    # per redemption: [who, item, quantity, total, status, created day]
    redemptions: list[list] = field(default_factory=list)


class Market:
    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.services, self.clock = services, clock
        self.tag = uuid.uuid4().hex[:8]
        self.ids: list[int] = []  # redemption ids, in the model's order
        self.requests: list[tuple[int, int, int, str]] = []  # (who, item, quantity, key) that succeeded
        self.journeys: dict[int, int] = {}  # journey → index of its redemption in the model
        self.wrong: list[datetime] = []  # when the worker typed a wrong pickup code

    def guesses(self) -> int:
        """Wrong codes of the last 10 minutes, as the shop counts them."""
        return sum(1 for at in self.wrong if at > self.clock.now() - self.services.shop.GUESS_WINDOW)

    async def open(self, funding: list[int]) -> None:
        s = self.services
        admin = await person(s, "admin")
        community = await s.run(s.people.create_community, f"Shop {self.tag}", actor_id=admin)
        self.cid = community.id
        self.worker = await person(s, f"w-{self.tag}")
        await s.run(s.people.appoint_worker, admin, self.cid, self.worker)
        code = await s.run(s.people.create_invite, self.worker, self.cid, role="resident")
        self.people = [await person(s, f"p{i}-{self.tag}") for i in range(PEOPLE)]
        for p, amount in zip(self.people, funding, strict=True):
            await s.run(s.people.join, p, code)
            if amount:
                await s.db.run(
                    s.db.transaction,
                    lambda ses, p=p, a=amount: s.ledger.earn(
                        ses, community_id=self.cid, person_id=p, amount=a, key=f"fund:{self.tag}:{p}"
                    ),
                )
        self.items = [
            (await s.run(s.shop.add_item, self.worker, self.cid, f"物品{i}", price, stock)).id
            for i, (price, stock) in enumerate(zip(PRICES, STOCKS, strict=True))
        ]
        self.model = Model(list(STOCKS), list(funding))

    async def step(self, op: tuple) -> None:
        name, shop, m = op[0], self.services.shop, self.model
        if name == "redeem":
            _, journey, who, item, quantity = op
            total = PRICES[item] * quantity
            expected: type[DomainError] | None = None
            if m.stock[item] is not None and m.stock[item] < quantity:
                expected = OutOfStock
            elif m.posted[who] - m.pending[who] < total:
                expected = InsufficientPoints
            key = f"r:{self.tag}:{len(self.requests)}:{who}"
            call = self.services.run(
                shop.redeem, self.people[who], self.cid, self.items[item], quantity, request_key=key
            )
            if await self.expect(call, expected):
                if m.stock[item] is not None:
                    m.stock[item] -= quantity
                m.pending[who] += total
                m.redemptions.append([who, item, quantity, total, "pending", self.clock.now()])
                self.ids.append(self.last.redemption.id)
                self.requests.append((who, item, quantity, key))
                self.journeys[journey] = len(m.redemptions) - 1
            return
        if name == "wait":
            self.clock.advance(days=op[1])
            await self.services.run(shop.expire_holds)
            for r in m.redemptions:
                if r[4] in OPEN and self.clock.now() - r[5] > timedelta(days=EXPIRY_DAYS):
                    self.close(r, "expired")
                    event("a hold expired")
            return
        if name == "restock":
            _, item, quantity = op
            if m.stock[item] is None:
                expected = InvalidInput
            else:
                expected = OutOfStock if m.stock[item] + quantity < 0 else None
            if await self.expect(
                self.services.run(shop.restock, self.worker, self.items[item], quantity, "盘点"), expected
            ):
                m.stock[item] += quantity  # type: ignore[operator]
            return
        if name == "replay":  # a redelivered redeem request changes nothing
            if self.requests:
                who, item, quantity, key = self.requests[op[1] % len(self.requests)]
                again = await self.services.run(
                    shop.redeem, self.people[who], self.cid, self.items[item], quantity, request_key=key
                )
                assert not again.changed
            return
        if name == "wrong_code":
            before = await self.codes()
            if "ZZZZZZ" not in before:  # (a one-in-a-billion draw would make it a right code)
                # The 10th wrong code in 10 minutes locks the worker out of pickups for a while.
                locked = self.guesses() >= shop.GUESSES - 1
                await self.expect(
                    self.services.run(shop.pickup, self.worker, self.cid, "ZZZZZZ"), NotAllowed if locked else NotFound
                )
                if self.guesses() < shop.GUESSES:
                    self.wrong.append(self.clock.now())
            return
        index = self.journeys.get(op[1])
        if index is None:  # the journey's redemption was refused: nothing to decide
            return
        r, rid = m.redemptions[index], self.ids[index]
        status = r[4]
        if name == "approve":
            expected = None if status in ("pending", "approved") else AlreadyDecided
            if await self.expect(self.services.run(shop.approve, self.worker, rid), expected):
                assert self.last.changed == (status == "pending")
                r[4] = "approved"
        elif name == "reject":
            expected = None if status in (*OPEN, "rejected") else AlreadyDecided
            if await self.expect(self.services.run(shop.reject, self.worker, rid, "不合适"), expected):
                assert self.last.changed == (status != "rejected")
                if status != "rejected":
                    self.close(r, "rejected")
        elif name == "cancel":
            expected = None if status in ("pending", "cancelled") else AlreadyDecided
            if await self.expect(self.services.run(shop.cancel, self.people[r[0]], rid), expected):
                assert self.last.changed == (status == "pending")
                if status == "pending":
                    self.close(r, "cancelled")
        elif name == "pickup":
            code = await self.code(rid)
            if code is None:  # never approved: there is no code to type
                return
            expected = None if status == "approved" else AlreadyDecided
            if self.guesses() >= shop.GUESSES:
                expected = NotAllowed
            if await self.expect(self.services.run(shop.pickup, self.worker, self.cid, code), expected):
                m.pending[r[0]] -= r[3]
                m.posted[r[0]] -= r[3]
                r[4] = "done"

    def close(self, r: list, status: str) -> None:
        """Rejected, cancelled or expired: the goods go back and the hold is released."""
        who, item, quantity, total = r[:4]
        if self.model.stock[item] is not None:
            self.model.stock[item] += quantity
        self.model.pending[who] -= total
        r[4] = status

    async def expect(self, call, refusal: type[DomainError] | None) -> bool:  # type: ignore[no-untyped-def]
        """Run the call; True when it succeeded as the model said, False when refused as it said."""
        name = getattr(call.cr_frame.f_locals.get("fn"), "__name__", call.__qualname__)  # the service method
        if refusal is None:
            self.last = await call
            event(f"{name} done")
            return True
        with pytest.raises(refusal):
            await call
        event(f"{name} refused: {refusal.__name__}")
        return False

    async def code(self, rid: int) -> str | None:
        with self.services.db.uow() as session:
            return session.scalar(select(Redemption.pickup_code).where(Redemption.id == rid))

    async def codes(self) -> set[str | None]:
        with self.services.db.uow() as session:
            return set(session.scalars(select(Redemption.pickup_code).where(Redemption.community_id == self.cid)))

    async def check(self) -> None:
        await ledger_invariants(self.services, self.cid)
        with self.services.db.uow() as session:
            stock_of = dict(
                (session.execute(select(ShopItem.id, ShopItem.stock).where(ShopItem.community_id == self.cid))).all()
            )
            status_of = dict(
                (
                    session.execute(select(Redemption.id, Redemption.status).where(Redemption.community_id == self.cid))
                ).all()
            )
            balance_of = {
                row.person_id: (row.posted, row.pending)
                for row in (
                    session.execute(
                        select(Account.person_id, Account.posted, Account.pending).where(
                            Account.community_id == self.cid, Account.kind == "person"
                        )
                    )
                ).all()
            }
        stocks = [stock_of[i] for i in self.items]
        statuses = [status_of[i] for i in self.ids]
        balances = [balance_of[p] for p in self.people]
        assert stocks == self.model.stock
        assert all(s is None or s >= 0 for s in stocks)
        assert statuses == [r[4] for r in self.model.redemptions]
        assert balances == list(zip(self.model.posted, self.model.pending, strict=True))
        for month in ("2026-11", None):  # a month by name, and this month in the community's zone
            rec = await self.services.run(self.services.shop.reconcile, None, self.cid, month)
            assert rec.balanced, rec


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    funding=st.lists(st.integers(20, 150), min_size=PEOPLE, max_size=PEOPLE),
    journeys=journeys,
    extras=extras,
    data=st.data(),
)
async def test_any_interleaving_keeps_stock_points_and_books_straight(
    services: Services,
    clock: FixedClock,
    funding: list[int],
    journeys: list[tuple],
    extras: list[tuple],
    data: st.DataObject,
) -> None:
    assert services.settings.hold_expiry_days == EXPIRY_DAYS
    clock.at = T0
    market = Market(services, clock)
    await market.open(funding)
    await market.check()
    # One queue per journey keeps its own order; which queue moves next is Hypothesis's choice.
    queues = [
        [("redeem", j, who, item, quantity), *((name, j) for name in fate)]
        for j, (who, item, quantity, fate) in enumerate(journeys)
    ] + [[extra] for extra in extras]
    while queues:
        i = data.draw(st.integers(0, len(queues) - 1), label="next queue")
        op = queues[i].pop(0)
        if not queues[i]:
            queues.pop(i)
        await market.step(op)
        await market.check()
