"""service requests: a noon slot (中午), which people ask for and used to be stored as any time

Revision ID: 0015_input
Revises: 0014
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0015_input'
down_revision = '0014'
branch_labels = None
depends_on = None

BEFORE = ('morning', 'afternoon', 'evening', 'any')
AFTER = ('morning', 'noon', 'afternoon', 'evening', 'any')


def _slots(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_requests_slot'), type_='check')
        batch_op.create_check_constraint(op.f('ck_service_requests_slot'),
                                         f"slot IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    _slots(AFTER)


def downgrade() -> None:
    op.execute("UPDATE service_requests SET slot = 'any' WHERE slot = 'noon'")
    _slots(BEFORE)
