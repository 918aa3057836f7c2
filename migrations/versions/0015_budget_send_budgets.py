"""WeChat's message budget: per-person send budgets, notifications held for the next answer

Revision ID: 0015_budget
Revises: 0014
Create Date: 2026-12-04 20:50:00

WeChat lets an account push 5 customer-service messages within 48 hours of a person's message
(3 within a minute of a click, a follow or a scan). Every process spends from one count per
person (`send_budgets`); past it a notification goes by template or is held (`held_at`) and
folded into the answer to the person's next message. `delivered_via` says which way it went.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0015_budget'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'send_budgets',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('opened_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('until', models.base.UTCDateTime(), nullable=False),
        sa.Column('allowed', sa.Integer(), nullable=False),
        sa.Column('used', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('channel', 'address', 'kind', name=op.f('pk_send_budgets')),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivered_via', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('delivered_via')
        batch_op.drop_column('held_at')
    op.drop_table('send_budgets')
