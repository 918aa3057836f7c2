"""a member belongs to a grid (网格) of their community

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 22:20:00

Elders already had a grid; people get one per membership, because a person may belong to more
than one community and a grid is a part of one community. Set at registration, by a worker
(`/grid NAME 二网格`) or by the roster import; empty for people not placed yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('memberships') as batch:
        batch.add_column(sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grids.id', name='fk_memberships_grid_id'), nullable=True))
        batch.create_index('ix_memberships_community_grid', ['community_id', 'grid_id'])


def downgrade() -> None:
    with op.batch_alter_table('memberships') as batch:
        batch.drop_index('ix_memberships_community_grid')
        batch.drop_column('grid_id')
