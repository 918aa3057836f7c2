"""tags and teams for star lists; workers on leave for the decision deadlines

Revision ID: 0009
Revises: 0001
Create Date: 2026-11-27 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0009'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_tags',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=32), nullable=False),
    sa.Column('shown', sa.Boolean(), nullable=False),
    sa.Column('tagged_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_person_tags_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_person_tags_person_id_people')),
    sa.ForeignKeyConstraint(['tagged_by_id'], ['people.id'], name=op.f('fk_person_tags_tagged_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_tags')),
    sa.UniqueConstraint('community_id', 'person_id', 'tag', name=op.f('uq_person_tags_community_id_person_id_tag'))
    )
    with op.batch_alter_table('person_tags', schema=None) as batch_op:
        batch_op.create_index('ix_person_tags_community_tag', ['community_id', 'tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_tags_person_id'), ['person_id'], unique=False)

    op.create_table('teams',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_teams_community_id_communities')),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_teams_created_by_id_people')),
    sa.ForeignKeyConstraint(['leader_id'], ['people.id'], name=op.f('fk_teams_leader_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_teams_community_id_name'))
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_community_id'), ['community_id'], unique=False)

    op.create_table('team_members',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('added_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_team_members_person_id_people')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('team_id', 'person_id', name=op.f('uq_team_members_team_id_person_id'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('away_since', models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('away_since')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_person_id'))
    op.drop_table('team_members')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_community_id'))
    op.drop_table('teams')
    with op.batch_alter_table('person_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_tags_person_id'))
        batch_op.drop_index('ix_person_tags_community_tag')
    op.drop_table('person_tags')
