"""star list: announcement groups; indexes for the star list and the monthly report

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-21 05:21:18.911763
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('announcement_groups',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_announcement_groups_community_id_communities')),
    sa.ForeignKeyConstraint(['set_by_id'], ['people.id'], name=op.f('fk_announcement_groups_set_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcement_groups')),
    sa.UniqueConstraint('channel', 'chat_id', name=op.f('uq_announcement_groups_channel_chat_id'))
    )
    with op.batch_alter_table('announcement_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcement_groups_community_id'), ['community_id'], unique=False)

    with op.batch_alter_table('service_logs', schema=None) as batch_op:
        batch_op.create_index('ix_service_logs_stars', ['community_id', 'status', 'service_date', 'person_id', 'minutes'], unique=False)
        batch_op.create_index('ix_service_logs_stars_person', ['community_id', 'status', 'person_id', 'service_date', 'minutes'], unique=False)

    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_community_created', ['community_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_community_created')

    with op.batch_alter_table('service_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_service_logs_stars_person')
        batch_op.drop_index('ix_service_logs_stars')

    with op.batch_alter_table('announcement_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_announcement_groups_community_id'))

    op.drop_table('announcement_groups')
