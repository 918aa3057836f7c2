"""merge the heads of grid coordinators, door cards and check-ins, the paper path, and the desk's logins

Revision ID: 0021
Revises: 0020_checkin, 0020_desk, 0020_grids, 0020_paper
Create Date: 2026-12-05 23:05:00

Four branches were built side by side from 0019; this joins them so the tree has one head again.
Nothing changes in the schema.
"""

from __future__ import annotations

revision = '0021'
down_revision = ('0020_checkin', '0020_desk', '0020_grids', '0020_paper')  # noqa: E501 (bot.kernel.migrate reads it as one line)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
