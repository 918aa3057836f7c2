"""merge the heads of the WeChat, inbox, proxies, input, money and certificates work

Revision ID: 0016
Revises: 0015_budget, 0015_certs, 0015_inbox, 0015_input, 0015_money, 0015_proxies, 0015_wxauth
Create Date: 2026-12-04 22:10:00

Seven branches were built side by side from 0014; this joins them so the tree has one head again.
Nothing changes in the schema.
"""

from __future__ import annotations

revision = '0016'
down_revision = ('0015_budget', '0015_certs', '0015_inbox', '0015_input', '0015_money', '0015_proxies', '0015_wxauth')  # noqa: E501 (bot.kernel.migrate reads it as one line)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
