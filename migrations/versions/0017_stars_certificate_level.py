"""a certificate keeps the holder's star level at issue (一星 … 五星)

Revision ID: 0017_stars
Revises: 0016
Create Date: 2026-12-04 23:30:00

Star levels themselves need no table: a community's thresholds live in its options, and the
congratulation for a level is claimed once in job_runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017_stars'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('certificates') as batch:
        batch.add_column(sa.Column('star_level', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('certificates') as batch:
        batch.drop_column('star_level')
