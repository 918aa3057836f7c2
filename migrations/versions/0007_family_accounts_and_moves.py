"""family accounts (links, acting for a relative), moves between communities, the redeeming proxy

Revision ID: 0007
Revises: 0002
Create Date: 2026-11-27 17:29:51.249777

Points expiry needs no schema: communities.points_expire_months exists since 0001, and the
clearing accounts are rows of `accounts`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0007'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('acting_for',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('relative_id', sa.Integer(), nullable=False),
    sa.Column('since', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_acting_for_person_id_people')),
    sa.ForeignKeyConstraint(['relative_id'], ['people.id'], name=op.f('fk_acting_for_relative_id_people')),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_acting_for'))
    )
    op.create_table('community_moves',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('from_community_id', sa.Integer(), nullable=False),
    sa.Column('to_community_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('decided_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['people.id'], name=op.f('fk_community_moves_accepted_by_id_people')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['people.id'], name=op.f('fk_community_moves_approved_by_id_people')),
    sa.ForeignKeyConstraint(['from_community_id'], ['communities.id'], name=op.f('fk_community_moves_from_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_community_moves_person_id_people')),
    sa.ForeignKeyConstraint(['to_community_id'], ['communities.id'], name=op.f('fk_community_moves_to_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_moves'))
    )
    with op.batch_alter_table('community_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_community_moves_from_community_id'), ['from_community_id'], unique=False)
        batch_op.create_index('ix_community_moves_person', ['person_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_community_moves_to_community_id'), ['to_community_id'], unique=False)

    op.create_table('family_links',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('relative_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('decided_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['people.id'], name=op.f('fk_family_links_confirmed_by_id_people')),
    sa.ForeignKeyConstraint(['member_id'], ['people.id'], name=op.f('fk_family_links_member_id_people')),
    sa.ForeignKeyConstraint(['relative_id'], ['people.id'], name=op.f('fk_family_links_relative_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_links')),
    sa.UniqueConstraint('code', name=op.f('uq_family_links_code'))
    )
    with op.batch_alter_table('family_links', schema=None) as batch_op:
        batch_op.create_index('ix_family_links_pair', ['member_id', 'relative_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_links_relative_id'), ['relative_id'], unique=False)

    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_redemptions_proxy_id_people'), 'people', ['proxy_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_redemptions_proxy_id_people'), type_='foreignkey')
        batch_op.drop_column('proxy_id')

    with op.batch_alter_table('family_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_links_relative_id'))
        batch_op.drop_index('ix_family_links_pair')

    op.drop_table('family_links')
    with op.batch_alter_table('community_moves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_community_moves_to_community_id'))
        batch_op.drop_index('ix_community_moves_person')
        batch_op.drop_index(batch_op.f('ix_community_moves_from_community_id'))

    op.drop_table('community_moves')
    op.drop_table('acting_for')
