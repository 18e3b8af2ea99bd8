"""Upload reservations: space held in a user's quota while an upload arrives.

Revision ID: 5c1e0a7d9b42
Revises: 5b7e2c9a41f3
Create Date: 2026-12-01 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5c1e0a7d9b42"
down_revision = "5b7e2c9a41f3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reservation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservation_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservation_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_user_id"))
        batch_op.drop_index(batch_op.f("ix_reservation_expires_at"))

    op.drop_table("reservation")
