"""Result reuse (content keys on files, input keys on tasks) and lost-task recovery (attempts).

Existing rows get no keys, so their results are never reused: nothing is known of their content.

Revision ID: 0d2d3f51d332
Revises: 12648cfcb8df
Create Date: 2026-11-24 00:45:32.639744

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0d2d3f51d332"
down_revision = "12648cfcb8df"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_key", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_media_file_content_key"), ["content_key"], unique=False)

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("input_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outputs", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("reused_from", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_task_input_key"), ["input_key"], unique=False)


def downgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_input_key"))
        batch_op.drop_column("reused_from")
        batch_op.drop_column("outputs")
        batch_op.drop_column("input_key")
        batch_op.drop_column("attempts")

    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_file_content_key"))
        batch_op.drop_column("content_key")
