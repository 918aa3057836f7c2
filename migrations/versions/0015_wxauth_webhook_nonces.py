"""webhook nonces: a signed request's (timestamp, nonce) is accepted once, in every process

Revision ID: 0015_wxauth
Revises: 0014
Create Date: 2026-12-04 21:00:00

WeChat's `signature` covers only the token, timestamp and nonce, and those sit in access logs:
a request is refused when its timestamp is not fresh or its pair was seen before. The pairs live
here for the freshness window (pruned as they age out), so every process of a deployment agrees.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_wxauth'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_nonces',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('channel', 'timestamp', 'nonce', name=op.f('pk_webhook_nonces')),
    )


def downgrade() -> None:
    op.drop_table('webhook_nonces')
