"""The one checker of the ledger's invariants, for every test that moves points: the supermarket's,
the requests', family races, the ledger's own property tests and the district's."""

from __future__ import annotations

from sqlalchemy import text

from bot.services import Services


async def ledger_invariants(services: Services, community_id: int | None = None, *, earns_only: bool = False) -> None:
    """The ledger's invariants: posted sums to zero; cached posted and pending equal the sums of
    the transfers, and (`earns_only`: when every point earned came from an earn transfer, no
    service request paying someone's hours) the stored lifetime points the sum of the account's
    earns; no guarded
    account is overdrawn; a hold resolves at most once; no stock is negative. Every transfer stays
    inside one community (both its accounts are in the transfer's community), so one community's
    books (`community_id`) balance on their own too."""
    mine = "1 = 1" if community_id is None else f"community_id = {int(community_id)}"
    mine_a = "1 = 1" if community_id is None else f"a.community_id = {int(community_id)}"
    with services.db.uow() as session:
        run = session.execute
        total = run(text(f"SELECT coalesce(sum(posted), 0) FROM accounts WHERE {mine}")).scalar_one()
        assert total == 0, "the books do not balance" + (f" in community {community_id}" if community_id else "")
        crossing = run(
            text(
                "SELECT count(*) FROM transfers t JOIN accounts d ON d.id = t.debit_account_id"
                " JOIN accounts c ON c.id = t.credit_account_id"
                " WHERE d.community_id != t.community_id OR c.community_id != t.community_id"
            )
        ).scalar_one()
        assert crossing == 0, "a transfer crosses a community"
        rows = run(
            text(
                f"""
            SELECT a.id, a.kind, a.posted, a.pending, a.earned_points,
              coalesce((SELECT sum(t.amount) FROM transfers t
                        WHERE t.credit_account_id = a.id AND t.phase IN ('posted', 'post')), 0)
            - coalesce((SELECT sum(t.amount) FROM transfers t
                        WHERE t.debit_account_id = a.id AND t.phase IN ('posted', 'post')), 0) AS posted_sum,
              coalesce((SELECT sum(t.amount) FROM transfers t
                        WHERE t.debit_account_id = a.id AND t.phase = 'pending'
                          AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = t.id)), 0) AS pending_sum,
              coalesce((SELECT sum(t.amount) FROM transfers t
                        WHERE t.credit_account_id = a.id AND t.kind = 'earn' AND t.phase = 'posted'), 0) AS earned_sum
            FROM accounts a WHERE {mine_a}
            """
            )
        ).all()
        for r in rows:
            assert r.posted == r.posted_sum, f"account {r.id} ({r.kind}): cached posted != its transfers"
            assert r.pending == r.pending_sum, f"account {r.id} ({r.kind}): cached pending != open holds"
            # /balance reads the lifetime points from the row: they must be the sum of its earns.
            assert not earns_only or r.earned_points == r.earned_sum, (
                f"account {r.id} ({r.kind}): stored earned != its earns"
            )
            if r.kind in ("person", "pool"):
                assert r.posted - r.pending >= 0, f"account {r.id} ({r.kind}) overdrawn"
        twice = run(
            text(
                f"SELECT count(*) FROM (SELECT pending_id FROM transfers WHERE pending_id IS NOT NULL AND {mine}"
                " GROUP BY pending_id HAVING count(*) > 1) x"
            )
        ).scalar_one()
        assert twice == 0, "a hold resolved more than once"
        assert run(text(f"SELECT count(*) FROM shop_items WHERE stock < 0 AND {mine}")).scalar_one() == 0
