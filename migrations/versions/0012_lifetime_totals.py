"""lifetime totals on accounts: points earned and minutes approved, kept as they change

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-02 20:45:00

/balance read them as sums over every transfer and log the person has; they are now kept on the
account row by the ledger (earned_points with each posted earn, earned_minutes with each approved
log), so a balance costs the same however long the history. Existing rows are backfilled with the
very sums the reads used to compute.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('earned_points', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('earned_minutes', sa.Integer(), server_default='0', nullable=False))
    # Minutes live on the person account: one for everybody with approved hours, even hours
    # that earned no points (and so never opened an account).
    op.execute(
        "INSERT INTO accounts (community_id, person_id, kind, posted, pending) "
        "SELECT DISTINCT l.community_id, l.person_id, 'person', 0, 0 FROM service_logs l "
        "WHERE l.status = 'approved' AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.kind = 'person' "
        "AND a.community_id = l.community_id AND a.person_id = l.person_id)"
    )
    op.execute(
        "UPDATE accounts SET earned_points = (SELECT coalesce(sum(t.amount), 0) FROM transfers t "
        "WHERE t.credit_account_id = accounts.id AND t.kind = 'earn' AND t.phase = 'posted')"
    )
    op.execute(
        "UPDATE accounts SET earned_minutes = (SELECT coalesce(sum(l.minutes), 0) FROM service_logs l "
        "WHERE l.person_id = accounts.person_id AND l.community_id = accounts.community_id "
        "AND l.status = 'approved') WHERE kind = 'person'"
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): recreating the table would trip the foreign keys of
    # the transfers that point at it once there is data.
    with op.batch_alter_table('accounts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('earned_minutes')
        batch_op.drop_column('earned_points')
