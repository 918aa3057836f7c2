"""merge the heads of the audit trail and consents, people's rights and ID numbers, star levels

Revision ID: 0018
Revises: 0017_audit, 0017_privacy, 0017_stars
Create Date: 2026-12-05 00:20:00

Three branches were built side by side from 0016; this joins them so the tree has one head again.
Nothing changes in the schema.
"""

from __future__ import annotations

revision = '0018'
down_revision = ('0017_audit', '0017_privacy', '0017_stars')  # noqa: E501 (bot.kernel.migrate reads it as one line)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
