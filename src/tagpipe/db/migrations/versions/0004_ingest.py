"""ingest: tag source and unique key, dead letters with counts per edge

Revision ID: 0004_ingest
Revises: 0003

Existing tags become ``plc`` (configured on a connection) or ``collector`` (discovered from published data) with their
key; discovered tags that were created twice (possible before: no connection id made the old unique constraint void)
keep their history under a key suffixed ``#{id}``, the oldest keeps the plain key. ``ingest_rejects`` counts move to
``dead_letter_counts`` under the consumer ``ingest``.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_ingest'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='plc', nullable=False))
        batch_op.add_column(sa.Column('key', sa.String(length=400), nullable=True))
    op.execute("UPDATE tags SET source = 'collector' WHERE connection_id IS NULL")
    op.execute("UPDATE tags SET key = 'plc/' || CAST(connection_id AS VARCHAR(20)) || '/' || name "
               "WHERE connection_id IS NOT NULL")
    op.execute("UPDATE tags SET key = 'collector/' || COALESCE(edge_id, '') || '/' || COALESCE(source_connection, '') "
               "|| '/' || name WHERE connection_id IS NULL")
    op.execute("UPDATE tags SET key = key || '#' || CAST(id AS VARCHAR(20)) "
               "WHERE id NOT IN (SELECT MIN(id) FROM tags GROUP BY key)")
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=400), nullable=False)
        batch_op.drop_constraint('uq_tags_edge_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_tags_key'), ['key'])

    op.create_table('dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_ms', sa.BigInteger(), nullable=False),
    sa.Column('parked_ms', sa.BigInteger(), nullable=False),
    sa.Column('consumer', sa.String(length=120), nullable=False),
    sa.Column('edge_id', sa.String(length=120), nullable=False),
    sa.Column('subject', sa.String(length=400), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('payload_size', sa.Integer(), nullable=False),
    sa.Column('stream_seq', sa.BigInteger(), nullable=True),
    sa.Column('deliveries', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dead_letters_consumer'), ['consumer'], unique=False)
        batch_op.create_index(batch_op.f('ix_dead_letters_edge_id'), ['edge_id'], unique=False)

    op.create_table('dead_letter_counts',
    sa.Column('consumer', sa.String(length=120), nullable=False),
    sa.Column('edge_id', sa.String(length=120), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_reason', sa.Text(), nullable=False),
    sa.Column('last_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'edge_id', name=op.f('pk_dead_letter_counts'))
    )
    op.execute("INSERT INTO dead_letter_counts (consumer, edge_id, count, last_reason, last_ms) "
               "SELECT 'ingest', edge_id, count, last_error, last_ts FROM ingest_rejects")
    op.drop_table('ingest_rejects')


def downgrade() -> None:
    op.create_table('ingest_rejects',
    sa.Column('edge_id', sa.String(length=120), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('edge_id', name=op.f('pk_ingest_rejects'))
    )
    op.execute("INSERT INTO ingest_rejects (edge_id, count, last_error, last_ts) "
               "SELECT edge_id, count, last_reason, last_ms FROM dead_letter_counts WHERE consumer = 'ingest'")
    op.drop_table('dead_letter_counts')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dead_letters_edge_id'))
        batch_op.drop_index(batch_op.f('ix_dead_letters_consumer'))
    op.drop_table('dead_letters')
    op.execute("DELETE FROM tags WHERE source NOT IN ('plc', 'collector')")
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_tags_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_tags_edge_id'), ['edge_id', 'source_connection', 'name'])
        batch_op.drop_column('key')
        batch_op.drop_column('source')
