"""people's rights over their data: requests to be forgotten, ID numbers kept encrypted, the ID
printed on certificates, and visit records anonymised after the retention

Revision ID: 0017_privacy
Revises: 0016
Create Date: 2026-12-04 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0017_privacy'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'erasure_requests',
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', models.base.UTCDateTime(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'done', 'refused')", name=op.f('ck_erasure_requests_status')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_erasure_requests_community_id_communities')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['people.id'], name=op.f('fk_erasure_requests_decided_by_id_people')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_erasure_requests_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_requests')),
    )
    op.create_index('ix_erasure_requests_community_status', 'erasure_requests', ['community_id', 'status'])
    op.create_index(op.f('ix_erasure_requests_person_id'), 'erasure_requests', ['person_id'])
    op.create_table(
        'id_documents',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('id_type', sa.String(length=16), nullable=False),
        sa.Column('encrypted', sa.String(length=512), nullable=False),
        sa.Column('masked', sa.String(length=32), nullable=False),
        sa.Column('consented_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("id_type IN ('resident_id')", name=op.f('ck_id_documents_id_type')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_id_documents_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_id_documents')),
        sa.UniqueConstraint('person_id', name=op.f('uq_id_documents_person_id')),
    )
    # Plain ADD/DROP COLUMN (SQLite has both): a batch copy of `people` would drop the table
    # every other one points at.
    op.add_column('people', sa.Column('forgotten_at', models.base.UTCDateTime(), nullable=True))
    op.add_column('certificates', sa.Column('id_type', sa.String(length=16), nullable=True))
    op.add_column('certificates', sa.Column('id_number_masked', sa.String(length=32), nullable=True))
    op.add_column('visit_records', sa.Column('anonymised_at', models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('visit_records', 'anonymised_at')
    op.drop_column('certificates', 'id_number_masked')
    op.drop_column('certificates', 'id_type')
    op.drop_column('people', 'forgotten_at')
    op.drop_table('id_documents')
    op.drop_index(op.f('ix_erasure_requests_person_id'), table_name='erasure_requests')
    op.drop_index('ix_erasure_requests_community_status', table_name='erasure_requests')
    op.drop_table('erasure_requests')
