"""staff sign-in: sessions, lockout, enrolment

Revision ID: 4ad57ac626fd
Revises: 257e746fcfdd
Create Date: 2026-11-28 23:37:11.694655
"""

from alembic import op
import sqlalchemy as sa
import relay.models.base


revision = '4ad57ac626fd'
down_revision = '257e746fcfdd'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', relay.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', relay.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('second_factor_done', sa.Boolean(), nullable=False),
    sa.Column('ended_at', relay.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_staff_sessions_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_sessions_token_hash'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', relay.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('enrolment_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('enrolment_expires_at', relay.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_staff_users_enrolment_token_hash'), ['enrolment_token_hash'])



def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_users_enrolment_token_hash'), type_='unique')
        batch_op.drop_column('enrolment_expires_at')
        batch_op.drop_column('enrolment_token_hash')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_attempts')
        batch_op.drop_column('totp_last_step')

    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_user_id'))

    op.drop_table('staff_sessions')
