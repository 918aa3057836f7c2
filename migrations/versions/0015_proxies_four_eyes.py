"""proxies: a worker's own family link waits for another worker and lasts as long as the role; a
worker's confirmation of a request paid from a member's points waits for a second worker; an
elder on the roster becomes a member once family is linked to them

Revision ID: 0015_proxies
Revises: 0014
Create Date: 2026-12-04 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_proxies'
down_revision = '0014'
branch_labels = None
depends_on = None

LINK_STATUSES = {
    'old': ('pending', 'active', 'removed'),
    'new': ('pending', 'approval', 'active', 'removed'),
}


def _status_check(batch_op, which: str) -> None:  # noqa: ANN001
    listed = ', '.join(f"'{v}'" for v in LINK_STATUSES[which])
    batch_op.drop_constraint(op.f('ck_family_links_status'), type_='check')
    batch_op.create_check_constraint(op.f('ck_family_links_status'), f'status IN ({listed})')


def upgrade() -> None:
    with op.batch_alter_table('family_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role_community_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_family_links_role_community_id_communities'), 'communities',
                                    ['role_community_id'], ['id'])
        _status_check(batch_op, 'new')
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_service_requests_accepted_by_id_people'), 'people',
                                    ['accepted_by_id'], ['id'])
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_elders_person_id_people'), 'people', ['person_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_elders_person_id_people'), type_='foreignkey')
        batch_op.drop_column('person_id')
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_service_requests_accepted_by_id_people'), type_='foreignkey')
        batch_op.drop_column('accepted_by_id')
    with op.batch_alter_table('family_links', schema=None) as batch_op:
        _status_check(batch_op, 'old')
        batch_op.drop_constraint(op.f('fk_family_links_role_community_id_communities'), type_='foreignkey')
        batch_op.drop_column('role_community_id')
