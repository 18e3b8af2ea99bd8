"""Resumable (tus) uploads, and the batch an item was uploaded with.

Revision ID: 3f8d2a6c1e90
Revises: b3d8f2a61c57
Create Date: 2026-12-02 16:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3f8d2a6c1e90"
down_revision = "b3d8f2a61c57"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tus_upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=16), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("metadata_header", sa.Text(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.Column("reservation_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tus_upload_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tus_upload_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_item_batch"), ["batch"], unique=False)


def downgrade():
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_batch"))
        batch_op.drop_column("batch")
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tus_upload_user_id"))
        batch_op.drop_index(batch_op.f("ix_tus_upload_expires_at"))
    op.drop_table("tus_upload")
