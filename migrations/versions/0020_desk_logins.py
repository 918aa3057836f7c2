"""the desk's login links and sessions

Revision ID: 0020_desk
Revises: 0019
Create Date: 2026-12-05 22:40:00

`/desk` and `/my` in the chat hand out a one-time login link (10 minutes); opening it starts an
8-hour session of the web pages under /desk/. Only hashes of their secrets are stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0020_desk'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'desk_logins',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('identity_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=16), nullable=False),
        sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('used_at', models.base.UTCDateTime(), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('link', 'session')", name=op.f('ck_desk_logins_kind')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_desk_logins_person_id_people')),
        sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], name=op.f('fk_desk_logins_identity_id_identities')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_desk_logins_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_logins')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_desk_logins_token_hash')),
    )
    op.create_index(op.f('ix_desk_logins_person_id'), 'desk_logins', ['person_id'])
    op.create_index(op.f('ix_desk_logins_expires_at'), 'desk_logins', ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_desk_logins_expires_at'), table_name='desk_logins')
    op.drop_index(op.f('ix_desk_logins_person_id'), table_name='desk_logins')
    op.drop_table('desk_logins')
