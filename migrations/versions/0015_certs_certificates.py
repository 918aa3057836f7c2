"""certificates of service hours (志愿服务证明) and the deployment's key for their check values

Revision ID: 0015_certs
Revises: 0014
Create Date: 2026-12-04 21:30:00

The key (one row) is made at random by the first certificate issued: a certificate's check
value (the `k` of its verification link) is an HMAC of its number under it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0015_certs'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'certificates',
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=True),
        sa.Column('minutes', sa.Integer(), nullable=True),
        sa.Column('content', sa.JSON(), nullable=True),
        sa.Column('person_name', sa.String(length=100), nullable=True),
        sa.Column('issuer_name', sa.String(length=200), nullable=True),
        sa.Column('head_name', sa.String(length=100), nullable=True),
        sa.Column('handler_id', sa.Integer(), nullable=True),
        sa.Column('handler_name', sa.String(length=100), nullable=True),
        sa.Column('issued_on', sa.Date(), nullable=True),
        sa.Column('decided_at', models.base.UTCDateTime(), nullable=True),
        sa.Column('refuse_reason', sa.Text(), nullable=True),
        sa.Column('revoked_by_id', sa.Integer(), nullable=True),
        sa.Column('revoked_at', models.base.UTCDateTime(), nullable=True),
        sa.Column('revoke_reason', sa.Text(), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'issued', 'refused', 'revoked')", name=op.f('ck_certificates_status')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_certificates_community_id_communities')),
        sa.ForeignKeyConstraint(['handler_id'], ['people.id'], name=op.f('fk_certificates_handler_id_people')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_certificates_person_id_people')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['people.id'], name=op.f('fk_certificates_requested_by_id_people')),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['people.id'], name=op.f('fk_certificates_revoked_by_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
        sa.UniqueConstraint('number', name=op.f('uq_certificates_number')),
    )
    op.create_index('ix_certificates_community_status', 'certificates', ['community_id', 'status'], unique=False)
    op.create_index(op.f('ix_certificates_person_id'), 'certificates', ['person_id'], unique=False)
    op.create_table(
        'certificate_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_keys')),
    )


def downgrade() -> None:
    op.drop_table('certificate_keys')
    op.drop_index(op.f('ix_certificates_person_id'), table_name='certificates')
    op.drop_index('ix_certificates_community_status', table_name='certificates')
    op.drop_table('certificates')
