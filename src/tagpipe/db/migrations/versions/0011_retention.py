"""retention: how long raw values and 1-minute rollups are kept, by default, per equipment and per tag; the database
sizes measured over time (growth per day)

No row means the built-in defaults (raw 365 days, 1-minute rollups 24 months, 1-hour rollups forever).

Revision ID: 0011_retention
Revises: 0010_compression
"""

import sqlalchemy as sa
from alembic import op

revision = '0011_retention'
down_revision = '0010_compression'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_policies',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.Integer(), nullable=False),
    sa.Column('raw_days', sa.Integer(), nullable=True),
    sa.Column('rollup_1m_months', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'scope_id', name=op.f('pk_retention_policies'))
    )
    op.create_table('disk_measurements',
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('used_bytes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('ts', name=op.f('pk_disk_measurements'))
    )


def downgrade() -> None:
    op.drop_table('disk_measurements')
    op.drop_table('retention_policies')
