"""CHECK constraints on status and kind columns; merges the heads

Revision ID: 0013
Revises: 0003, 0004, 0006, 0007, 0008, 0009, 0011
Create Date: 2026-11-27 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = ('0003', '0004', '0006', '0007', '0008', '0009', '0011')
branch_labels = None
depends_on = None

# The values as this revision knows them (the models' lists may grow later, by a migration).
# Older values still in rows are listed too: transfers written as 'post' before 'posted'.
# On SQLite each table is rebuilt (batch mode): bot.kernel.migrate turns the foreign keys off meanwhile.
CHECKS = {
    'accounts': {'kind': ('person', 'issuance', 'supermarket', 'adjustments', 'expiry', 'pool', 'clearing', 'services')},
    'community_moves': {'status': ('requested', 'approved', 'done', 'rejected')},
    'elders': {'risk': ('high', 'normal')},
    'family_links': {'status': ('pending', 'active', 'removed')},
    'inbox': {'status': ('new', 'handled', 'done', 'parked'), 'replied': ('sent', 'passive', 'unreachable', 'none')},
    'invite_codes': {'role': ('resident', 'volunteer', 'worker')},
    'memberships': {'role': ('resident', 'volunteer', 'worker')},
    'redemptions': {'status': ('pending', 'approved', 'rejected', 'cancelled', 'expired', 'done')},
    'service_logs': {'status': ('pending', 'approved', 'rejected')},
    'service_requests': {
        'slot': ('morning', 'afternoon', 'evening', 'any'),
        'payer': ('own', 'pool', 'community'),
        'status': ('approval', 'open', 'taken', 'done', 'disputed', 'paid', 'confirmed', 'cancelled', 'expired',
                   'refused', 'voided'),
    },
    'stock_movements': {'kind': ('restock', 'reserve', 'release', 'handover')},
    'transfers': {'phase': ('posted', 'pending', 'post', 'void', 'expire')},
    'visit_records': {'kind': ('visit', 'call'), 'outcome': ('well', 'needs_help', 'not_home', 'hospital')},
}


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                listed = ', '.join(f"'{v}'" for v in values)
                batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), f'{column} IN ({listed})')


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
