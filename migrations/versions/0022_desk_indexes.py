"""the desk's indexes: visit records by community and time, people by name

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 23:00:00

The desk's Elders page counts a month's visits per day in a community: one range of this index
instead of every visit the community ever recorded. Its People search finds a name's beginning as
one range of an index on the shown name and one on the real name.
"""

from __future__ import annotations

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_visit_records_community_at', 'visit_records', ['community_id', 'at'], unique=False)
    op.create_index('ix_people_display_name', 'people', ['display_name'], unique=False)
    op.create_index('ix_people_real_name', 'people', ['real_name'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_people_real_name', table_name='people')
    op.drop_index('ix_people_display_name', table_name='people')
    op.drop_index('ix_visit_records_community_at', table_name='visit_records')
