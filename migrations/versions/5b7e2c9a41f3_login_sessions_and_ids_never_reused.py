"""Login sessions, one row per login (logout ends it for good); ids never reused on SQLite;
email addresses in their canonical form.

The per-user session token goes: every login has its own row now, so existing sessions and
remember-me cookies end with this migration and people log in again once.

On SQLite the user, media_file and task tables are rebuilt with AUTOINCREMENT, so that a deleted
row's id is never given to a new one; the counter starts at the highest id left in each table (ids
deleted before this migration cannot be known). PostgreSQL's sequences never reuse ids already.
A later SQLite migration that rebuilds one of these tables must pass the same table_kwargs:
reflection does not see AUTOINCREMENT, and the rebuilt table would lose it.

Sign-up and login now fold what people type with NFKC (fullwidth "ｂｏｂ" is "bob"), so stored
addresses are folded the same way, or their owners could no longer log in. One whose folded form
is already another account's is left as it is and named in the log, for the operator.

Revision ID: 5b7e2c9a41f3
Revises: 0d2d3f51d332
Create Date: 2026-12-01 08:40:00.000000

"""

import logging
import secrets
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5b7e2c9a41f3"
down_revision = "0d2d3f51d332"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

NEVER_REUSE_IDS = {"sqlite_autoincrement": True}
REBUILT = ("media_file", "task")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def fold_stored_emails():
    user = sa.table("user", sa.column("id", sa.Integer), sa.column("email", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(user.c.id, user.c.email)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        folded = unicodedata.normalize("NFKC", email).lower()
        if folded == email:
            continue
        if folded in taken:
            log.warning("Account %s (%s) looks like the account %s; left as it is.", user_id, email, folded)
            continue
        connection.execute(sa.update(user).where(user.c.id == user_id).values(email=folded))
        taken.add(folded)


def upgrade():
    fold_stored_emails()
    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        **NEVER_REUSE_IDS,
    )
    op.create_index(op.f("ix_login_session_user_id"), "login_session", ["user_id"], unique=False)

    sqlite = _sqlite()
    with op.batch_alter_table(
        "user", recreate="always" if sqlite else "auto", table_kwargs=NEVER_REUSE_IDS
    ) as batch_op:
        batch_op.drop_column("session_token")
    if sqlite:
        for table in REBUILT:
            with op.batch_alter_table(table, recreate="always", table_kwargs=NEVER_REUSE_IDS):
                pass


def downgrade():
    sqlite = _sqlite()
    if sqlite:
        for table in REBUILT:
            with op.batch_alter_table(table, recreate="always"):
                pass
    with op.batch_alter_table("user") as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    user = sa.table("user", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(user.c.id)):
        token = secrets.token_urlsafe(24)
        connection.execute(sa.update(user).where(user.c.id == user_id).values(session_token=token))
    with op.batch_alter_table("user", recreate="always" if sqlite else "auto") as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_user_session_token", ["session_token"])

    op.drop_index(op.f("ix_login_session_user_id"), table_name="login_session")
    op.drop_table("login_session")
