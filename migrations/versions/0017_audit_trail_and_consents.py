"""the audit trail by person and by item (/audit), and consents with the notice's version

Revision ID: 0017_audit
Revises: 0016
Create Date: 2026-12-04 23:40:00

Audit entries gain the person they concern, filled for the entries already kept from their
subject (a person, or the owner of a log, redemption, request, certificate or move), and two
indexes that let /audit page newest first by id. Consents: a volunteer's as given in the chat,
an elder's as obtained by a worker, each with the privacy notice's version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0017_audit'
down_revision = '0016'
branch_labels = None
depends_on = None

# Whose each kind of subject is, for the entries written before the column existed.
_OWNERS = (
    ('person', 'people', 'id'), ('log', 'service_logs', 'person_id'), ('redemption', 'redemptions', 'person_id'),
    ('request', 'service_requests', 'requester_id'), ('certificate', 'certificates', 'person_id'),
    ('move', 'community_moves', 'person_id'),
)


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_audit_log_person_id_people'), 'people', ['person_id'], ['id'])
        batch_op.create_index('ix_audit_log_person_trail', ['person_id', 'community_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_log_subject_trail', ['subject_type', 'subject_id', 'id'], unique=False)
    for kind, table, column in _OWNERS:
        op.execute(
            f"UPDATE audit_log SET person_id = (SELECT t.{column} FROM {table} t WHERE t.id = audit_log.subject_id) "
            f"WHERE subject_type = '{kind}' AND person_id IS NULL"
        )
    op.create_table(
        'consents',
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('elder_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('notice_version', sa.String(length=16), nullable=False),
        sa.Column('obtained', sa.String(length=16), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('volunteer', 'elder')", name=op.f('ck_consents_kind')),
        sa.CheckConstraint("obtained IN ('chat', 'in_person', 'phone', 'family')", name=op.f('ck_consents_obtained')),
        sa.ForeignKeyConstraint(['by_id'], ['people.id'], name=op.f('fk_consents_by_id_people')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_consents_community_id_communities')),
        sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_consents_elder_id_elders')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_consents_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    )
    op.create_index('ix_consents_person', 'consents', ['person_id', 'kind', 'id'], unique=False)
    op.create_index('ix_consents_elder', 'consents', ['elder_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_consents_elder', table_name='consents')
    op.drop_index('ix_consents_person', table_name='consents')
    op.drop_table('consents')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_subject_trail')
        batch_op.drop_index('ix_audit_log_person_trail')
        batch_op.drop_constraint(batch_op.f('fk_audit_log_person_id_people'), type_='foreignkey')
        batch_op.drop_column('person_id')
