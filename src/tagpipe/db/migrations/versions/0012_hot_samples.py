"""values as they arrive: ``samples_hot``, clustered by (shard, arrival), merged into samples and rollups in the
background (``history.merge``)

Revision ID: 0012_hot_samples
Revises: 0011_retention
"""

import sqlalchemy as sa
from alembic import op

revision = '0012_hot_samples'
down_revision = '0011_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('samples_hot',
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('quality', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('shard', 'seq', 'tag_id', 'ts', name=op.f('pk_samples_hot')),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """What waits here goes into samples first (the first stored of a time wins), then the table goes; the rollups
    are not updated for it (run the merge before downgrading to keep them exact)."""
    op.execute('INSERT INTO samples (tag_id, ts, value, text, quality) SELECT tag_id, ts, value, text, quality '
               'FROM samples_hot ORDER BY seq ON CONFLICT DO NOTHING')
    op.drop_table('samples_hot')
