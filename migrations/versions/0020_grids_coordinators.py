"""grid coordinators (网格员): who manages which grid of a community; elders found by grid

Revision ID: 0020_grids
Revises: 0019
Create Date: 2026-12-05 22:40:00

A coordinator is a member appointed to one or more grids of their community; one row per grid.
Their lists (/elders, /visits, the 08:30 list) read the elders of a grid, hence the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0020_grids'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'grid_coordinators',
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('grid_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('appointed_by_id', sa.Integer(), nullable=True),
        sa.Column('appointed_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_grid_coordinators_community_id_communities')),
        sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_grid_coordinators_grid_id_grids')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_grid_coordinators_person_id_people')),
        sa.ForeignKeyConstraint(['appointed_by_id'], ['people.id'],
                                name=op.f('fk_grid_coordinators_appointed_by_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_coordinators')),
        sa.UniqueConstraint('grid_id', 'person_id', name=op.f('uq_grid_coordinators_grid_id_person_id')),
    )
    op.create_index('ix_grid_coordinators_person_community', 'grid_coordinators', ['person_id', 'community_id'])
    op.create_index('ix_grid_coordinators_community_grid', 'grid_coordinators', ['community_id', 'grid_id'])
    op.create_index('ix_elders_community_grid', 'elders', ['community_id', 'grid_id'])


def downgrade() -> None:
    op.drop_index('ix_elders_community_grid', table_name='elders')
    op.drop_index('ix_grid_coordinators_community_grid', table_name='grid_coordinators')
    op.drop_index('ix_grid_coordinators_person_community', table_name='grid_coordinators')
    op.drop_table('grid_coordinators')
