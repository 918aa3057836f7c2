"""lifetime points: service requests' pay counts as points earned

Revision ID: 0015_money
Revises: 0014
Create Date: 2026-12-04 21:00:00

A service request's hours became an approved log, but the points the requester paid for them
were left out of the taker's stored 累计获得 (only issuance's earns were added). The ledger now
adds them when the request pays; existing rows get the points of every approved log that no
earn paid for (those are the requests' logs; a log worth nothing adds nothing).
"""

from __future__ import annotations

from alembic import op

revision = '0015_money'
down_revision = '0014'
branch_labels = None
depends_on = None

PAID_BY_REQUESTS = (
    "SELECT coalesce(sum(l.points), 0) FROM service_logs l "
    "WHERE l.person_id = accounts.person_id AND l.community_id = accounts.community_id "
    "AND l.status = 'approved' AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.kind = 'earn' "
    "AND t.ref_type = 'log' AND t.ref_id = l.id)"
)


def upgrade() -> None:
    op.execute(f"UPDATE accounts SET earned_points = earned_points + ({PAID_BY_REQUESTS}) WHERE kind = 'person'")


def downgrade() -> None:
    op.execute(f"UPDATE accounts SET earned_points = earned_points - ({PAID_BY_REQUESTS}) WHERE kind = 'person'")
