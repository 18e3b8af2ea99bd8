"""Edits: an item's kept ranges with a version, and each user's filler phrases.

Revision ID: 7e3a9c2d4b18
Revises: 5c1e0a7d9b42
Create Date: 2026-12-02 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7e3a9c2d4b18"
down_revision = "5c1e0a7d9b42"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "edit",
        sa.Column("item_id", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("keep", sa.JSON(), nullable=False),
        sa.Column("automatic", sa.JSON(), nullable=False),
        sa.Column("fade", sa.Double(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("filler_phrases", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("filler_phrases")
    op.drop_table("edit")
