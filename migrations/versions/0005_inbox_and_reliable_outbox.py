"""production mode: the inbox, a leased outbox with retries, unreachable identities

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27 17:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_id', sa.String(length=128), nullable=False),
    sa.Column('sender', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('not_before', models.base.UTCDateTime(), nullable=True),
    sa.Column('lease_until', models.base.UTCDateTime(), nullable=True),
    sa.Column('leased_by', sa.String(length=64), nullable=True),
    sa.Column('reply', sa.JSON(), nullable=True),
    sa.Column('reply_sent', sa.Integer(), server_default='0', nullable=False),
    sa.Column('replied', sa.String(length=16), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('received_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('handled_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
    sa.UniqueConstraint('channel', 'platform_id', name=op.f('uq_inbox_channel_platform_id'))
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_open', ['status', 'channel', 'sender', 'id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('not_before', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('lease_until', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('parked_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=500), nullable=True))

    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unreachable_at', models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_column('unreachable_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('parked_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('not_before')
        batch_op.drop_column('attempts')

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_open')

    op.drop_table('inbox')
