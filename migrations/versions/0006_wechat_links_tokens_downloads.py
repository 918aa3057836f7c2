"""wechat and linked channels: link codes, shared access tokens, download links, last message index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('link_codes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('used_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_link_codes_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_link_codes_code'))
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_codes_person_id'), ['person_id'], unique=False)

    op.create_table('access_tokens',
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('token', sa.String(length=512), nullable=True),
    sa.Column('expires_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('fetched_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('fetches', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('app', name=op.f('pk_access_tokens'))
    )

    op.create_table('downloads',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_downloads_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_downloads')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_downloads_token_hash'))
    )
    with op.batch_alter_table('downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_downloads_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_downloads_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_sender_received', ['channel', 'sender', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_sender_received')

    with op.batch_alter_table('downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_downloads_person_id'))
        batch_op.drop_index(batch_op.f('ix_downloads_expires_at'))
    op.drop_table('downloads')
    op.drop_table('access_tokens')

    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_codes_person_id'))
    op.drop_table('link_codes')
