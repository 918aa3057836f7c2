"""one name per person; an index to count a worker's recent wrong pickup codes

Revision ID: 0011
Revises: 0001
Create Date: 2026-11-27 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor_action', ['actor_id', 'action', 'created_at'], unique=False)
    # The real name given at registration is the one name shown everywhere.
    people = sa.table('people', sa.column('display_name', sa.String), sa.column('real_name', sa.String))
    op.execute(people.update().where(people.c.real_name.is_not(None)).values(display_name=people.c.real_name))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_actor_action')
