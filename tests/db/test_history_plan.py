"""A points history page reads about a page of rows, however many transfers the community's
system accounts hold, also once PostgreSQL plans the prepared statement for any account."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.services import Services
from tests.world import make_world

SYSTEM_TRANSFERS = 20_000
_PAY = (
    "INSERT INTO transfers (community_id, debit_account_id, credit_account_id, amount, kind, phase,"
    " idempotency_key, created_at) SELECT :c, :debit, (:to)[1 + n % cardinality(:to)], :amount, 'earn',"
    " 'posted', :key || n, now() FROM generate_series(1, :n) AS n"
)


async def test_a_history_page_walks_the_persons_index_not_the_table(services: Services) -> None:
    if services.db.sqlite:
        pytest.skip("PostgreSQL's plan for a prepared statement")
    w = await make_world(services)
    db = services.db
    with db.engine.begin() as conn:
        accounts = [
            conn.execute(
                text(
                    "INSERT INTO accounts (community_id, person_id, kind, posted, pending, earned_points,"
                    " earned_minutes) VALUES (:c, :p, 'person', 0, 0, 0, 0)"
                    " ON CONFLICT (community_id, kind, person_id) DO UPDATE SET kind = 'person' RETURNING id"
                ),
                {"c": w.community_id, "p": person},
            ).scalar_one()
            for person in w.volunteers
        ]
        issuance = conn.execute(
            text("SELECT id FROM accounts WHERE community_id = :c AND kind = 'issuance'"), {"c": w.community_id}
        ).scalar_one()
        # The measured volunteer was paid three times and never spent.
        conn.execute(
            text(_PAY),
            {"c": w.community_id, "debit": issuance, "to": accounts[:1], "amount": 5, "key": "mine-", "n": 3},
        )

    sent: list[tuple[str, dict[str, Any]]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if "resolution" in sql and isinstance(params, dict):
            sent.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", seen)  # PostgreSQL's readers share its events
    items, more = await services.run(services.points.history, w.volunteer, w.community_id)
    assert [i.delta for i in items] == [5, 5, 5] and not more
    [(sql, params)] = sent

    # The statement as sent, prepared and planned for any value of its parameters (what the
    # server does after a prepared statement's fifth run when that plan looks no dearer), on a
    # table where the issuance account pays everyone: most transfers debit it. All in one
    # transaction rolled back, statistics included, so no later test plans with them.
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    prepared = re.sub(r"%\((\w+)\)s", numbered, sql)
    with db.engine.connect() as conn:
        pay = {"c": w.community_id, "debit": issuance, "to": accounts[1:], "amount": 1, "key": "skew-"}
        conn.execute(text(_PAY), {**pay, "n": SYSTEM_TRANSFERS})
        conn.execute(text("ANALYZE transfers"))
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE page AS {prepared}")
        values = ", ".join(str(int(params[name])) for name in names)
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN ANALYZE EXECUTE page({values})"))
        conn.exec_driver_sql("DEALLOCATE page")
        conn.rollback()
    # The rolled-back rows stay in the table and its indexes as dead ones, under the account ids the
    # next test gets again (its sequences start over): gone, or its lookups wade through them.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM transfers")
    skipped = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan))
    assert skipped < 100, plan
