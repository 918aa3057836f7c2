"""Property test of service requests on the ledger: random sequences of post (own points, pool,
community), grant, take, withdraw, done, accept with top-ups, dispute, settle, cancel and expiry,
with replays, by anyone (allowed or not). After every step: the ledger's invariants hold, a
refused step wrote nothing, each request's hold resolved at most once and agrees with the
request's state, the services account holds nothing once requests close, and no request paid
twice (what its volunteer received equals what the request says it paid).

Each example builds its own community (hypothesis does not renew function-scoped fixtures)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import text

from bot.kernel.clock import FixedClock
from bot.kernel.errors import DomainError
from bot.requests.service import HOLDING, NewRequest
from bot.services import Services
from tests.ledger import ledger_invariants
from tests.world import person

PEOPLE = 4  # 0 and 1 are residents who ask, 2 and 3 volunteers; the worker is separate
which = st.integers(0, 1_000)  # an earlier request, modulo how many exist
minutes = st.sampled_from([15, 30, 60, 90, 120, 240])
# Each step names an actor, or None for the one the step is meant for (the request's taker,
# requester, a volunteer, the worker), so the happy paths happen as often as the refusals.
who = st.one_of(st.none(), st.none(), st.integers(0, PEOPLE))  # PEOPLE means the worker
operations = st.one_of(
    st.tuples(
        st.just("post"),
        st.integers(0, 1),
        st.sampled_from(["own", "own", "pool", "community"]),
        minutes,
        st.integers(0, 3),
    ),
    st.tuples(st.just("grant"), who, which),
    st.tuples(st.just("take"), who, which),
    st.tuples(st.just("take"), who, which),
    st.tuples(st.just("take"), who, which),
    st.tuples(st.just("withdraw"), who, which),
    st.tuples(st.just("done"), who, which, minutes),
    st.tuples(st.just("done"), who, which, minutes),
    st.tuples(st.just("accept"), who, which, st.integers(0, 10)),
    st.tuples(st.just("accept"), who, which, st.just(0)),
    st.tuples(st.just("accept"), who, which, st.just(0)),
    st.tuples(st.just("dispute"), who, which),
    st.tuples(st.just("settle"), who, which, st.one_of(st.none(), st.integers(0, 50))),
    st.tuples(st.just("cancel"), who, which),
    st.tuples(st.just("days"), st.integers(1, 4)),
)


def note(what: str) -> None:
    """Counts shown by --hypothesis-show-statistics, to see that every kind of step happens."""
    if currently_in_test_context():
        event(what)


class Street:
    """One example's community and its requests."""

    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.services, self.clock = services, clock
        self.tag = uuid.uuid4().hex[:10]
        self.requests: list[int] = []
        self.steps = 0

    async def open(self, funding: list[int], pool: int) -> None:
        s = self.services
        admin = await person(s, "admin")
        community = await s.run(s.people.create_community, f"Street {self.tag}", actor_id=admin)
        self.community_id = community.id
        self.worker = await person(s, f"w-{self.tag}")
        await s.run(s.people.appoint_worker, admin, community.id, self.worker)
        self.people = [await person(s, f"p{i}-{self.tag}") for i in range(PEOPLE)]
        code = await s.run(s.people.create_invite, self.worker, community.id)
        for i, p in enumerate(self.people):
            await s.run(s.people.join, p, code)
            if i >= 2:
                await s.run(s.people.register_volunteer, p, community.id, f"志愿者{i}", f"1390000000{i}")
        self.category = (await s.run(s.hours.categories, community.id))[0].id
        for p, amount in zip(self.people, funding):
            if amount:
                await s.db.run(
                    s.db.transaction,
                    lambda ses, p=p, amount=amount: s.ledger.earn(
                        ses, community_id=community.id, person_id=p, amount=amount, key=f"fund:{self.tag}:{p}"
                    ),
                )
        if pool:
            await s.db.run(
                s.db.transaction,
                lambda ses: s.ledger.earn(
                    ses, community_id=community.id, person_id=self.worker, amount=pool, key=f"fund:{self.tag}:pool"
                ),
            )
            await s.run(s.points.donate, self.worker, community.id, pool, f"donate:{self.tag}")

    def actor(self, i: int) -> int:
        return self.worker if i == PEOPLE else self.people[i]

    async def step(self, op: tuple) -> None:
        r, name = self.services.requests, op[0]
        if name == "days":
            self.clock.advance(days=op[1])
            await self.services.run(r.expire)
            return
        if name != "post" and not self.requests:
            return
        target = self.requests[op[2] % len(self.requests)] if name != "post" else None
        actor = self.actor(op[1]) if op[1] is not None else await self.meant(name, target, op[2])
        self.steps += 1
        calls = {
            "grant": lambda: r.approve_pool(actor, target),
            "take": lambda: r.take(actor, target),
            "withdraw": lambda: r.withdraw(actor, target),
            "done": lambda: r.done(actor, target, op[3] if len(op) > 3 else 60),
            "accept": lambda: r.accept(actor, target, op[3]),
            "dispute": lambda: r.dispute(actor, target, "不满意"),
            "settle": lambda: r.settle(actor, target, op[3]),
            "cancel": lambda: r.cancel(actor, target),
        }
        if name == "post":
            today = self.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
            call = lambda: r.post(
                NewRequest(
                    requester_id=actor,
                    poster_id=actor,
                    community_id=self.community_id,
                    category_id=self.category,
                    service_date=today + timedelta(days=op[4]),
                    slot="any",
                    minutes=op[3],
                    payer=op[2],
                    request_key=f"prop:{self.tag}:{self.steps}",
                )
            )
        else:
            call = calls[name]
        before = await self.snapshot()
        try:
            outcome = await self.services.run(call)
        except DomainError:
            assert await self.snapshot() == before, f"{op} was refused but wrote"
            note(f"{name} refused")
            return
        note(f"{name} {'done' if outcome.changed else 'replayed'}")
        if name == "post" and outcome.changed:
            self.requests.append(outcome.request.id)
        # The same step again (a second press, a redelivered update) changes nothing.
        after = await self.snapshot()
        try:
            again = await self.services.run(call)
        except DomainError:
            again = None
        assert again is None or not (again[1] if isinstance(again, tuple) else again.changed), (op, again)
        assert await self.snapshot() == after, f"a replay of {op} wrote"

    async def meant(self, name: str, request_id: int, pick: int) -> int:
        """The person a step is meant for on this request."""
        if name in ("grant", "settle"):
            return self.worker
        with self.services.db.read() as session:
            requester, taker = (
                session.execute(
                    text("SELECT requester_id, taker_id FROM service_requests WHERE id = :q"), {"q": request_id}
                )
            ).one()
        if name in ("withdraw", "done") and taker is not None:
            return taker
        if name in ("accept", "dispute", "cancel"):
            return requester
        return self.people[2 + pick % 2]  # a volunteer

    async def snapshot(self) -> tuple:
        with self.services.db.read() as session:
            run = session.execute
            accounts = (
                run(
                    text("SELECT id, posted, pending FROM accounts WHERE community_id = :c ORDER BY id"),
                    {"c": self.community_id},
                )
            ).all()
            requests = (
                run(
                    text("SELECT id, status, taker_id, paid FROM service_requests WHERE community_id = :c ORDER BY id"),
                    {"c": self.community_id},
                )
            ).all()
            transfers = (
                run(text("SELECT count(*) FROM transfers WHERE community_id = :c"), {"c": self.community_id})
            ).scalar_one()
            return tuple(map(tuple, accounts)), tuple(map(tuple, requests)), transfers

    async def check(self) -> None:
        await ledger_invariants(self.services, self.community_id)
        with self.services.db.read() as session:
            run = session.execute
            rows = (
                run(
                    text(
                        """
                SELECT q.id, q.status, q.payer, q.held, q.paid, q.taker_id,
                  (SELECT t.phase FROM transfers t WHERE t.pending_id = q.hold_transfer_id) AS resolution,
                  (SELECT count(*) FROM transfers t WHERE t.idempotency_key = 'request:Q' || q.id || :hold) AS holds,
                  coalesce((SELECT sum(t.amount) FROM transfers t WHERE t.idempotency_key IN
                    ('request:Q' || q.id || :pay, 'request:Q' || q.id || :topup)), 0) AS received,
                  (SELECT l.points FROM service_logs l WHERE l.id = q.service_log_id) AS logged,
                  (SELECT l.status FROM service_logs l WHERE l.id = q.service_log_id) AS log_status
                FROM service_requests q WHERE q.community_id = :c
                """
                    ),
                    {"c": self.community_id, "hold": ":hold", "pay": ":pay", "topup": ":topup"},
                )
            ).all()
            services_posted = (
                run(
                    text("SELECT posted FROM accounts WHERE community_id = :c AND kind = 'services'"),
                    {"c": self.community_id},
                )
            ).scalar_one()
        for q in rows:
            assert q.holds <= 1, q
            if q.payer == "community" or q.status in ("approval", "refused"):
                assert q.holds == 0, f"Q{q.id} ({q.payer}, {q.status}) holds points"
            if q.status in HOLDING and q.payer != "community":
                assert q.holds == 1 and q.resolution is None, f"Q{q.id} is {q.status} but its hold is gone"
            if q.status == "paid":
                assert q.logged == q.paid and q.log_status == "approved", q
                if q.payer != "community":
                    assert q.resolution == "post", q
                    assert q.received == q.paid, f"Q{q.id} paid {q.paid}, its volunteer received {q.received}"
            else:
                assert q.received == 0, f"Q{q.id} is {q.status} but paid out {q.received}"
            if q.status in ("cancelled", "expired", "voided") and q.holds:
                assert q.resolution in ("void", "expire"), q
        assert services_posted == 0, "the services account kept points"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    funding=st.lists(st.integers(0, 150), min_size=PEOPLE, max_size=PEOPLE),
    pool=st.integers(0, 100),
    ops=st.lists(operations, min_size=5, max_size=30),
)
async def test_requests_keep_the_ledger_whole_for_any_sequence(
    services: Services, clock: FixedClock, funding: list[int], pool: int, ops: list[tuple]
) -> None:
    street = Street(services, clock)
    await street.open(funding, pool)
    await street.check()
    for op in ops:
        await street.step(op)
        await street.check()


async def test_the_check_catches_a_request_paid_twice(services: Services, clock: FixedClock) -> None:
    """The checker is only worth something if it can fail."""
    street = Street(services, clock)
    await street.open([50, 0, 0, 0], 0)
    for op in (("post", 0, "own", 60, 1), ("take", None, 0), ("done", None, 0, 60), ("accept", None, 0, 0)):
        await street.step(op)
    await street.check()
    request_id = street.requests[0]
    await services.db.run(
        services.db.transaction,
        lambda s: s.execute(text("UPDATE service_requests SET paid = paid + 1 WHERE id = :q"), {"q": request_id}),
    )
    with pytest.raises(AssertionError):
        await street.check()
