"""inbox: each sender's head, so a claim reads one row per waiting person; pacing of floods

Revision ID: 0015_inbox
Revises: 0014
Create Date: 2026-12-04 21:00:00

A claim used to check every queued entry against every earlier one of its sender: one member
with 3,200 queued updates made it take 769 ms for everyone. Now the oldest open entry of each
sender carries `head_seq` (at most one per sender, a unique partial index) and claims read only
heads. Existing open entries get their heads here. A parked entry past the retention keeps
its row without the message (`replied` = 'pruned').
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0015_inbox'
down_revision = '0014'
branch_labels = None
depends_on = None

HEADS = sa.text('head_seq IS NOT NULL')
REPLIED = "replied IN ('sent', 'passive', 'unreachable', 'none'{})"


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('head_seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pace_at', models.base.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_inbox_sender', ['channel', 'sender', 'id'], unique=False)
        batch_op.drop_constraint(op.f('ck_inbox_replied'), type_='check')
        batch_op.create_check_constraint(op.f('ck_inbox_replied'), REPLIED.format(", 'pruned'"))
    op.execute(
        "UPDATE inbox SET head_seq = id WHERE status IN ('new', 'handled') AND id = ("
        "SELECT min(i.id) FROM inbox i WHERE i.channel = inbox.channel AND i.sender = inbox.sender"
        " AND i.status IN ('new', 'handled'))"
    )
    op.create_index('ix_inbox_heads', 'inbox', ['channel', 'sender'], unique=True,
                    postgresql_where=HEADS, sqlite_where=HEADS)
    op.create_index('ix_inbox_queue', 'inbox', ['head_seq', 'id'], unique=False,
                    postgresql_where=HEADS, sqlite_where=HEADS)


def downgrade() -> None:
    op.drop_index('ix_inbox_queue', table_name='inbox', postgresql_where=HEADS, sqlite_where=HEADS)
    op.drop_index('ix_inbox_heads', table_name='inbox', postgresql_where=HEADS, sqlite_where=HEADS)
    op.execute("DELETE FROM inbox WHERE replied = 'pruned'")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_inbox_replied'), type_='check')
        batch_op.create_check_constraint(op.f('ck_inbox_replied'), REPLIED.format(''))
        batch_op.drop_index('ix_inbox_sender')
        batch_op.drop_column('pace_at')
        batch_op.drop_column('head_seq')
