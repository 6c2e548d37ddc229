"""certificates: tagpipe's store of uploaded certificates and private keys

Revision ID: 0007_certificates
Revises: 0006_auth
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_certificates'
down_revision = '0006_auth'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('name', name=op.f('uq_certificates_name')),
    sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table('certificates')
