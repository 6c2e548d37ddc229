"""compressed sample blocks: one tag's samples of one hour in a row (``db.blocks``)

Existing samples stay where they are; the ingest worker's compactor moves every hour that is over into blocks in the
background, oldest tags first, a few tags per transaction.

Revision ID: 0009_sample_blocks
Revises: 0008_edge_auth
"""

import sqlalchemy as sa
from alembic import op

revision = '0009_sample_blocks'
down_revision = '0008_edge_auth'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sample_blocks',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('start_ts', sa.BigInteger(), nullable=False),
    sa.Column('first_ts', sa.BigInteger(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('tag_id', 'start_ts', name=op.f('pk_sample_blocks'))
    )


def downgrade() -> None:
    """Blocks back into samples (nothing compacted is lost), then the table goes."""
    from tagpipe.db.blocks import decode

    bind = op.get_bind()
    samples = sa.table('samples', sa.column('tag_id'), sa.column('ts'), sa.column('value'), sa.column('text'),
                       sa.column('quality'))
    for tag_id, data in bind.execute(sa.text('SELECT tag_id, data FROM sample_blocks')).all():
        c = decode(data)
        rows = [{'tag_id': tag_id, 'ts': t, 'value': v, 'text': x, 'quality': q}
                for t, v, x, q in zip(c.ts, c.values, c.texts, c.quality, strict=True)]
        if rows:
            bind.execute(samples.insert(), rows)
    op.drop_table('sample_blocks')
