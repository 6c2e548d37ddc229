"""per-tag lossy storage: deadband or swinging door with a deviation and a maximum interval (``history.compression``)

Revision ID: 0010_compression
Revises: 0009_sample_blocks
"""

import sqlalchemy as sa
from alembic import op

revision = '0010_compression'
down_revision = '0009_sample_blocks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tag_compression',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('deviation', sa.Float(), nullable=False),
    sa.Column('max_s', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tag_id', name=op.f('pk_tag_compression'))
    )


def downgrade() -> None:
    op.drop_table('tag_compression')
