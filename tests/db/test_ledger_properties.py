"""Property test of the ledger: random sequences of earn, hold, post,
void, expire, adjust, gift, donate, replays and key reuse, each in its own transaction through
the services. After every step the invariants are checked straight from the database, and the
stored balances are compared with a small in-memory model that predicts which steps must succeed.

Hypothesis does not give each example fresh function-scoped fixtures, so every example builds its
own community (with its own accounts and key prefix) inside the test's database."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import func, select, text

import models
from bot.kernel.errors import AlreadyDecided, DomainError, IdempotencyConflict, InsufficientPoints
from bot.ledger.service import TransferResult
from bot.services import Services
from tests.ledger import ledger_invariants
from tests.world import person

PEOPLE = 3
# A spend is either a plain amount or ("edge", d): the spender's available balance plus d, so the
# guard's boundary (exactly enough, one point short) is hit often, not by luck.
amounts = st.integers(1, 40)
spends = st.one_of(amounts, st.tuples(st.just("edge"), st.integers(-1, 1)))
people = st.integers(0, PEOPLE - 1)
# Indexes into earlier steps are taken modulo what exists, so they shrink well.
earlier = st.integers(0, 1_000)

earn = st.tuples(st.just("earn"), people, amounts)
hold = st.tuples(st.just("hold"), people, spends)
resolve = st.tuples(st.sampled_from(["post", "void", "expire"]), earlier)
signed = st.one_of(amounts, st.tuples(st.just("-edge"), st.integers(-1, 1)), amounts.map(lambda a: -a))
# Holds and their resolutions are listed twice: they are where two-phase bugs would hide.
operations = st.one_of(
    earn,
    hold,
    hold,
    resolve,
    resolve,
    st.tuples(st.just("adjust"), people, signed),
    st.tuples(st.just("gift"), people, st.integers(1, PEOPLE - 1), spends),
    st.tuples(st.just("donate"), people, spends),
    st.tuples(st.just("replay"), earlier),
    st.tuples(st.just("reuse"), earlier, st.booleans()),
)


def note(what: str) -> None:
    """Counts shown by --hypothesis-show-statistics, to see that every kind of step happens."""
    if currently_in_test_context():
        event(what)


Run = Callable[[str], Awaitable[TransferResult]]


@dataclass
class Done:
    """A step that succeeded: how to run it again with any key, its key and its result."""

    op: tuple
    run: Run
    key: str
    result: TransferResult


@dataclass
class Model:
    posted: dict[int, int] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)

    def available(self, account: int) -> int:
        return self.posted.get(account, 0) - self.pending.get(account, 0)

    def apply(self, t: TransferResult) -> None:
        def add(book: dict[int, int], account: int, amount: int) -> None:
            book[account] = book.get(account, 0) + amount

        if t.phase in ("pending",):
            add(self.pending, t.debit_account_id, t.amount)
        elif t.phase in ("void", "expire"):
            add(self.pending, t.debit_account_id, -t.amount)
        else:  # "posted", or "post" which also releases the hold
            if t.phase == "post":
                add(self.pending, t.debit_account_id, -t.amount)
            add(self.posted, t.debit_account_id, -t.amount)
            add(self.posted, t.credit_account_id, t.amount)


class Bank:
    """One example's community and the driver of its steps."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tag = uuid.uuid4().hex[:10]
        self.model = Model()
        self.done: list[Done] = []
        self.holds: list[TransferResult] = []
        self.resolved: set[int] = set()
        self.steps = 0

    async def open(self) -> None:
        s = self.services
        admin = await person(s, "admin")
        community = await s.run(s.people.create_community, f"Prop {self.tag}", actor_id=admin)
        self.community_id = community.id
        self.worker = await person(s, f"w-{self.tag}")
        await s.run(s.people.appoint_worker, admin, community.id, self.worker)
        code = await s.run(s.people.create_invite, self.worker, community.id, role="resident")
        self.people = [await person(s, f"p{i}-{self.tag}") for i in range(PEOPLE)]
        for p in self.people:
            await s.run(s.people.join, p, code)

        def ids(session):
            return [s.ledger.person_account(session, community.id, p) for p in self.people]

        self.accounts = await s.db.run(s.db.transaction, ids)

    def key(self) -> str:
        self.steps += 1
        return f"prop:{self.tag}:{self.steps}"

    # --- the operations, each its own transaction through the services ----------------------

    def runner(self, op: tuple) -> tuple[Run, type[DomainError] | None]:
        """How to run `op`, and the refusal the model expects (None: it must succeed)."""
        s, cid, name = self.services, self.community_id, op[0]
        if name == "earn":
            _, who, amount = op
            return (
                lambda key: s.db.run(
                    s.db.transaction,
                    lambda ses: s.ledger.earn(
                        ses, community_id=cid, person_id=self.people[who], amount=amount, key=key
                    ),
                )
            ), None
        if name == "hold":
            _, who, amount = op
            return (
                lambda key: s.db.run(
                    s.db.transaction,
                    lambda ses: s.ledger.hold(
                        ses, community_id=cid, person_id=self.people[who], amount=amount, key=key
                    ),
                )
            ), self._unless_affordable(who, amount)
        if name in ("post", "void", "expire"):
            hold = self.holds[op[1] % len(self.holds)]
            resolve = getattr(s.ledger, name)
            expected = AlreadyDecided if hold.id in self.resolved else None
            return (
                lambda key: s.db.run(s.db.transaction, lambda ses: resolve(ses, pending_id=hold.id, key=key))
            ), expected
        if name == "adjust":
            _, who, amount = op
            return (
                lambda key: s.run(s.points.adjust, self.worker, cid, self.people[who], amount, "correction", key)
            ), (None if amount > 0 else self._unless_affordable(who, -amount))
        if name == "gift":
            _, who, offset, amount = op
            to = self.people[(who + offset) % PEOPLE]
            return (lambda key: s.run(s.points.gift, self.people[who], cid, to, amount, key)), self._unless_affordable(
                who, amount
            )
        if name == "donate":
            _, who, amount = op
            return (lambda key: s.run(s.points.donate, self.people[who], cid, amount, key)), self._unless_affordable(
                who, amount
            )
        raise AssertionError(op)

    def _unless_affordable(self, who: int, amount: int) -> type[DomainError] | None:
        return None if self.model.available(self.accounts[who]) >= amount else InsufficientPoints

    def concrete(self, op: tuple) -> tuple:
        """Turn ("edge", d) amounts into numbers from the model's current balances."""
        if not isinstance(op[-1], tuple):
            return op
        kind, d = op[-1]
        amount = max(1, self.model.available(self.accounts[op[1]]) + d)
        return (*op[:-1], -amount if kind == "-edge" else amount)

    async def step(self, op: tuple) -> None:
        op = self.concrete(op)
        name = op[0]
        if name in ("post", "void", "expire") and not self.holds:
            return
        if name in ("replay", "reuse"):
            if self.done:
                await (self.replay(op) if name == "replay" else self.reuse(op))
            return
        run, refusal = self.runner(op)
        key = self.key()
        if refusal is not None:
            before = await self.snapshot()
            with pytest.raises(refusal):
                await run(key)
            assert await self.snapshot() == before, f"{op} was refused but wrote"
            note(f"{name} refused: {refusal.__name__}")
            return
        result = await run(key)
        assert not result.replayed
        note(f"{name} done")
        self.model.apply(result)
        self.done.append(Done(op, run, key, result))
        if result.phase == "pending":
            self.holds.append(result)
        elif result.pending_id is not None:
            self.resolved.add(result.pending_id)

    async def replay(self, op: tuple) -> None:
        """A redelivered request: same key, same arguments → the first result, nothing written."""
        first = self.done[op[1] % len(self.done)]
        before = await self.snapshot()
        again = await first.run(first.key)
        assert again == replace(first.result, replayed=True)
        assert await self.snapshot() == before
        note(f"replay of {first.op[0]}")

    async def reuse(self, op: tuple) -> None:
        """A key used again for a different request is refused, not silently replayed."""
        first, near = self.done[op[1] % len(self.done)], op[2]
        other = first.op
        if near and other[0] in ("earn", "hold", "donate"):
            other = (*other[:-1], other[-1] + 1)  # the same request but for one point more
        elif near and other[0] == "adjust":
            other = ("adjust", other[1], other[2] + (1 if other[2] > 0 else -1))
        elif near and other[0] == "gift":
            other = ("gift", other[1], other[2] % (PEOPLE - 1) + 1, other[3])  # to someone else
        else:
            other = ("earn", 0, 1_000)  # no step ever asks for that much
        run, _ = self.runner(other)
        before = await self.snapshot()
        with pytest.raises(IdempotencyConflict):
            await run(first.key)
        assert await self.snapshot() == before
        note(f"key of {first.op[0]} reused for {other[0]}")

    # --- reading the database directly ------------------------------------------------------

    async def snapshot(self) -> tuple:
        """Everything a balance-changing step could write."""
        with self.services.db.uow() as session:
            run = session.execute
            accounts = (
                run(
                    text("SELECT id, posted, pending FROM accounts WHERE community_id = :c ORDER BY id"),
                    {"c": self.community_id},
                )
            ).all()
            counts = [
                (run(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in ("transfers", "audit_log", "notifications")
            ]
            return tuple(map(tuple, accounts)), tuple(counts)

    async def check(self) -> None:
        # The ledger's invariants (tests/ledger.py): the books balance, cached balances equal the
        # transfers, no guarded account overdrawn, a hold resolved at most once, every point
        # earned by an earn transfer.
        await ledger_invariants(self.services, self.community_id, earns_only=True)
        # The model knows which steps succeeded; the database must agree with it.
        with self.services.db.uow() as session:
            rows = session.execute(
                select(models.Account.id, models.Account.kind, models.Account.posted, models.Account.pending).where(
                    models.Account.community_id == self.community_id
                )
            ).all()
        for r in rows:
            assert (r.posted, r.pending) == (self.model.posted.get(r.id, 0), self.model.pending.get(r.id, 0)), (
                f"account {r.id} ({r.kind}) disagrees with the model"
            )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    funding=st.lists(st.integers(0, 80), min_size=PEOPLE, max_size=PEOPLE),
    ops=st.lists(operations, min_size=5, max_size=30),
)
async def test_ledger_invariants_hold_for_any_sequence(
    services: Services, funding: list[int], ops: list[tuple]
) -> None:
    bank = Bank(services)
    await bank.open()
    await bank.check()
    # Opening balances first, so that spending steps are not almost always refused.
    for op in [("earn", who, amount) for who, amount in enumerate(funding) if amount] + ops:
        await bank.step(op)
        await bank.check()


@pytest.mark.parametrize("column, message", [("posted", None), ("earned_points", "stored earned")])
async def test_the_invariant_check_catches_a_tampered_balance(
    services: Services, column: str, message: str | None
) -> None:
    """The checker is only worth something if it can fail."""
    bank = Bank(services)
    await bank.open()
    await bank.step(("earn", 0, 10))
    await bank.check()
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(
            text(f"UPDATE accounts SET {column} = {column} + 1 WHERE id = :a"), {"a": bank.accounts[0]}
        ),
    )
    with pytest.raises(AssertionError, match=message):
        await bank.check()


# --- a district: three communities, family gifts across them, moves and expiry ---------------

COMMUNITIES = 3
RESIDENTS = 6  # resident i starts in community i % 3; (0, 1), (2, 3), (4, 5) are family
residents = st.integers(0, RESIDENTS - 1)
district_operations = st.one_of(
    st.tuples(st.just("earn"), residents, amounts),
    st.tuples(st.just("hold"), residents, spends),
    st.tuples(st.sampled_from(["post", "void"]), earlier),
    st.tuples(st.just("gift"), residents, spends),  # to their family member, wherever they live
    st.tuples(st.just("move"), residents, st.integers(1, COMMUNITIES - 1)),
    st.tuples(st.just("time"), st.integers(5, 45)),  # days pass; the expiry job runs
    st.tuples(st.just("replay"), earlier),
)


class District:
    """Three communities whose books must each balance with their clearing account."""

    def __init__(self, services: Services, clock) -> None:
        self.services, self.clock = services, clock
        self.tag = uuid.uuid4().hex[:10]
        self.model = Model()
        self.holds: list[tuple[TransferResult, int]] = []  # (hold, resident)
        self.resolved: set[int] = set()
        self.gifts: list[tuple[int, int, str, TransferResult]] = []  # (from, amount, key, result)
        self.steps = 0

    async def open(self) -> None:
        s = self.services
        admin = await person(s, "admin")
        self.communities, self.names, self.workers = [], [], []
        for i in range(COMMUNITIES):
            name = f"D{i} {self.tag}"
            community = await s.run(s.people.create_community, name, actor_id=admin)
            worker = await person(s, f"dw{i}-{self.tag}")
            await s.run(s.people.appoint_worker, admin, community.id, worker)
            await s.run(s.expiry.set_months, worker, community.id, 1)  # points live a month: expiry happens
            self.communities.append(community.id)
            self.names.append(name)
            self.workers.append(worker)
        self.people, self.home = [], []
        for i in range(RESIDENTS):
            home = i % COMMUNITIES
            code = await s.run(s.people.create_invite, self.workers[home], self.communities[home], role="resident")
            p = await person(s, f"r{i}-{self.tag}")
            await s.run(s.people.join, p, code)
            self.people.append(p)
            self.home.append(home)
        for a in range(0, RESIDENTS, 2):  # the relative accepts the member's family code
            b = a + 1
            await s.run(s.family.accept, self.people[b], await s.run(s.family.offer, self.people[a]))

    def key(self) -> str:
        self.steps += 1
        return f"district:{self.tag}:{self.steps}"

    async def account(self, who: int, community: int | None = None) -> int:
        cid = self.communities[self.home[who] if community is None else community]
        return await self.services.db.run(
            self.services.db.transaction, lambda s: self.services.ledger.open_person_account(s, cid, self.people[who])
        )

    async def clearing(self, community: int) -> int:
        return await self.services.db.run(
            self.services.db.transaction,
            lambda s: self.services.ledger._ensure_account(s, self.communities[community], "clearing", None),
        )

    async def available(self, who: int) -> int:
        return self.model.available(await self.account(who))

    async def concrete(self, op: tuple) -> tuple:
        if not isinstance(op[-1], tuple):
            return op
        _, d = op[-1]
        return (*op[:-1], max(1, await self.available(op[1]) + d))

    async def step(self, op: tuple) -> None:
        op = await self.concrete(op)
        s, name = self.services, op[0]
        if name == "earn":
            _, who, amount = op
            cid = self.communities[self.home[who]]
            result = await s.db.run(
                s.db.transaction,
                lambda ses: s.ledger.earn(
                    ses, community_id=cid, person_id=self.people[who], amount=amount, key=self.key()
                ),
            )
            self.model.apply(result)
        elif name == "hold":
            _, who, amount = op
            cid = self.communities[self.home[who]]
            run = lambda key: s.db.run(
                s.db.transaction,
                lambda ses: s.ledger.hold(ses, community_id=cid, person_id=self.people[who], amount=amount, key=key),
            )
            if await self.available(who) < amount:
                await self.refused(run, InsufficientPoints)
                return
            result = await run(self.key())
            self.model.apply(result)
            self.holds.append((result, who))
        elif name in ("post", "void"):
            open_holds = [h for h, _ in self.holds if h.id not in self.resolved]
            if not open_holds:
                return
            hold = open_holds[op[1] % len(open_holds)]
            resolve = getattr(s.ledger, name)
            result = await s.db.run(s.db.transaction, lambda ses: resolve(ses, pending_id=hold.id, key=self.key()))
            self.model.apply(result)
            self.resolved.add(hold.id)
        elif name == "gift":
            await self.gift(op[1], op[2])
        elif name == "move":
            await self.move(op[1], (self.home[op[1]] + op[2]) % COMMUNITIES)
        elif name == "time":
            await self.days_pass(op[1])
        elif name == "replay" and self.gifts:
            giver, amount, key, first = self.gifts[op[1] % len(self.gifts)]
            before = await self.snapshot()
            # The giver may have moved since; the replay names the community the gift came from.
            cid = (
                await self.services.db.run(
                    self.services.db.transaction, lambda ses: ses.get(models.Account, first.debit_account_id)
                )
            ).community_id
            again = await s.run(s.points.gift, self.people[giver], cid, self.people[giver ^ 1], amount, key)
            assert again == replace(first, replayed=True)
            assert await self.snapshot() == before
            note("replayed family gift")

    async def gift(self, who: int, amount: int) -> None:
        s, to = self.services, who ^ 1
        cid = self.communities[self.home[who]]
        run = lambda key: s.run(s.points.gift, self.people[who], cid, self.people[to], amount, key)
        if await self.available(who) < amount:
            await self.refused(run, InsufficientPoints)
            return
        key = self.key()
        result = await run(key)
        self.model.apply(result)
        if self.home[who] != self.home[to]:  # the incoming leg, in the relative's community
            self.model.apply(
                TransferResult(0, "gift", "posted", await self.clearing(self.home[to]), await self.account(to), amount)
            )
            note("family gift across communities")
        else:
            note("family gift at home")
        self.gifts.append((who, amount, key, result))

    async def move(self, who: int, target: int) -> None:
        s, source = self.services, self.home[who]
        move = await s.run(s.moves.request, self.people[who], self.communities[source], self.names[target])
        pending = self.model.pending.get(await self.account(who), 0)
        if pending:  # refused at the old community's approval already
            before = await self.snapshot()
            with pytest.raises(DomainError) as caught:
                await s.run(s.moves.approve, self.workers[source], move.id)
            assert caught.value.key == "error.move_holds_open"
            assert await self.snapshot() == before
            await s.run(s.moves.reject, self.workers[source], move.id, "holds open")
            note("move refused: points on hold")
            return
        await s.run(s.moves.approve, self.workers[source], move.id)
        amount = await self.available(who)
        old_account = await self.account(who)
        outcome = await s.run(s.moves.approve, self.workers[target], move.id)
        assert outcome.changed and outcome.move.amount == amount
        self.home[who] = target
        if amount:
            self.model.apply(TransferResult(0, "move", "posted", old_account, await self.clearing(source), amount))
            self.model.apply(
                TransferResult(0, "move", "posted", await self.clearing(target), await self.account(who), amount)
            )
        note("moved")

    async def days_pass(self, days: int) -> None:
        """The expiry job runs; what it expired is read back, and none of it was held."""
        self.clock.advance(days=days)
        with self.services.db.uow() as session:
            last = session.scalar(select(func.max(models.Transfer.id))) or 0
        await self.services.run(self.services.expiry.run, self.clock.now(), only=self.communities)
        with self.services.db.uow() as session:
            expired = (
                session.execute(
                    select(
                        models.Transfer.debit_account_id, models.Transfer.credit_account_id, models.Transfer.amount
                    ).where(
                        models.Transfer.id > last,
                        models.Transfer.kind == "expire_points",
                        models.Transfer.community_id.in_(self.communities),
                    )
                )
            ).all()
        for debit, credit, amount in expired:
            assert amount <= self.model.available(debit), "expired more than was free (held points?)"
            self.model.apply(TransferResult(0, "expire_points", "posted", debit, credit, amount))
            note("points expired")

    async def refused(self, run: Run, error: type[DomainError]) -> None:
        before = await self.snapshot()
        with pytest.raises(error):
            await run(self.key())
        assert await self.snapshot() == before

    async def snapshot(self) -> tuple:
        with self.services.db.uow() as session:
            run = session.execute
            accounts = (
                run(
                    select(models.Account.id, models.Account.posted, models.Account.pending)
                    .where(models.Account.community_id.in_(self.communities))
                    .order_by(models.Account.id)
                )
            ).all()
            counts = [
                (run(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in ("transfers", "community_moves", "audit_log")
            ]
            return tuple(map(tuple, accounts)), tuple(counts)

    async def check(self) -> None:
        # The district as a whole, and each community on its own (with its clearing account): the
        # ledger's invariants of tests/ledger.py.
        await ledger_invariants(self.services, earns_only=True)
        for cid in self.communities:
            await ledger_invariants(self.services, cid, earns_only=True)
        with self.services.db.uow() as session:
            rows = session.execute(
                select(models.Account.id, models.Account.kind, models.Account.posted, models.Account.pending).where(
                    models.Account.community_id.in_(self.communities)
                )
            ).all()
        for r in rows:
            assert (r.posted, r.pending) == (self.model.posted.get(r.id, 0), self.model.pending.get(r.id, 0)), (
                f"account {r.id} ({r.kind}) disagrees with the model"
            )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    funding=st.lists(st.integers(0, 60), min_size=RESIDENTS, max_size=RESIDENTS),
    ops=st.lists(district_operations, min_size=5, max_size=25),
)
async def test_district_invariants_hold_with_gifts_moves_and_expiry(
    services: Services,
    clock,
    funding: list[int],
    ops: list[tuple],
) -> None:
    district = District(services, clock)
    await district.open()
    await district.check()
    for op in [("earn", who, amount) for who, amount in enumerate(funding) if amount] + ops:
        await district.step(op)
        await district.check()
