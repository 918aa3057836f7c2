"""printed event sign-in sheets (签到表) whose signed QR code records everyone's hours once

Revision ID: 0020_paper
Revises: 0019
Create Date: 2026-12-05 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0020_paper'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'event_sheets',
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('people', sa.JSON(), nullable=False),
        sa.Column('nonce', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', models.base.UTCDateTime(), nullable=True),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('printed', 'recorded')", name=op.f('ck_event_sheets_status')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_event_sheets_community_id_communities')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_event_sheets_team_id_teams')),
        sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_event_sheets_created_by_id_people')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['people.id'],
                                name=op.f('fk_event_sheets_recorded_by_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_sheets')),
    )
    op.create_index('ix_event_sheets_community_status', 'event_sheets', ['community_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_event_sheets_community_status', table_name='event_sheets')
    op.drop_table('event_sheets')
