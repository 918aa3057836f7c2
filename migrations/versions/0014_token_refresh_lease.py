"""access tokens: a refresh lease, so no transaction stays open across the platform's HTTP call

Revision ID: 0014
Revises: 0012, 0013
Create Date: 2026-11-27 23:10:00

The process that fetches a new token used to hold the token's row lock (on SQLite the write lock,
and so every write of the process) until WeChat answered, up to its 15 s timeout. It now marks
the row for the length of the fetch in one short transaction and stores the token in another.
Merges the two heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0014'
down_revision = ('0012', '0013')
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refresh_until', models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_column('refresh_until')
