"""specialist preparation in Spanish: what a Spanish-speaking patient is told to do before the visit

Revision ID: c5fdf3e37472
Revises: 0e80857e5227
Create Date: 2026-11-29 18:14:29.579110
"""

from alembic import op
import sqlalchemy as sa


revision = 'c5fdf3e37472'
down_revision = '0e80857e5227'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('specialists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prep_es', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('specialists', schema=None) as batch_op:
        batch_op.drop_column('prep_es')
