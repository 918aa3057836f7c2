"""door cards, check-ins and the wellbeing answers of a visit

Revision ID: 0020_checkin
Revises: 0019
Create Date: 2026-12-05 22:30:00

An elder's door card carries a signed token (its key and generation on the elder); a scan is a
check-in that becomes a verified visit record; a visit record keeps the three wellbeing answers,
the note for the next visitor and the service request a need became; a visit alert says why it
was raised (a "needs help" outcome, or a worrying wellbeing answer that waits under the deadline
rule).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020_checkin'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('elders') as batch:
        batch.add_column(sa.Column('card_generation', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('card_key', sa.String(64), nullable=True))
    with op.batch_alter_table('visit_records') as batch:
        batch.add_column(sa.Column('verified', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('mood', sa.String(8), nullable=True))
        batch.add_column(sa.Column('health', sa.String(8), nullable=True))
        batch.add_column(sa.Column('need', sa.String(8), nullable=True))
        batch.add_column(sa.Column('next_note', sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                'need_request_id',
                sa.Integer(),
                sa.ForeignKey('service_requests.id', name='fk_visit_records_need_request_id_service_requests'),
                nullable=True,
            )
        )
        batch.create_check_constraint('mood', "mood IN ('good', 'so_so', 'poor')")
        batch.create_check_constraint('health', "health IN ('good', 'unwell', 'doctor')")
        batch.create_check_constraint('need', "need IN ('nothing', 'shopping', 'repairs', 'other')")
    with op.batch_alter_table('visit_alerts') as batch:
        batch.add_column(sa.Column('reason', sa.String(16), nullable=False, server_default='needs_help'))
        batch.create_check_constraint('reason', "reason IN ('needs_help', 'wellbeing')")
    op.create_table(
        'visit_checkins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('elder_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('visit_id', sa.Integer(), nullable=True),
        sa.Column('request_key', sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name='fk_visit_checkins_community_id_communities'),
        sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name='fk_visit_checkins_elder_id_elders'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name='fk_visit_checkins_person_id_people'),
        sa.ForeignKeyConstraint(['visit_id'], ['visit_records.id'], name='fk_visit_checkins_visit_id_visit_records'),
        sa.PrimaryKeyConstraint('id', name='pk_visit_checkins'),
        sa.UniqueConstraint('visit_id', name='uq_visit_checkins_visit_id'),
        sa.UniqueConstraint('request_key', name='uq_visit_checkins_request_key'),
    )
    op.create_index('ix_visit_checkins_community_id', 'visit_checkins', ['community_id'])
    op.create_index('ix_visit_checkins_elder_id', 'visit_checkins', ['elder_id'])


def downgrade() -> None:
    op.drop_index('ix_visit_checkins_elder_id', table_name='visit_checkins')
    op.drop_index('ix_visit_checkins_community_id', table_name='visit_checkins')
    op.drop_table('visit_checkins')
    with op.batch_alter_table('visit_alerts') as batch:
        batch.drop_constraint('reason', type_='check')
        batch.drop_column('reason')
    with op.batch_alter_table('visit_records') as batch:
        for name in ('need', 'health', 'mood'):
            batch.drop_constraint(name, type_='check')
        batch.drop_column('need_request_id')
        for name in ('next_note', 'need', 'health', 'mood', 'verified'):
            batch.drop_column(name)
    with op.batch_alter_table('elders') as batch:
        batch.drop_column('card_key')
        batch.drop_column('card_generation')
