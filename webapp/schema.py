"""`flask db-ready`: bring any database to the latest migration, including one made before migrations."""

import click
import flask_migrate
import sqlalchemy as sa
from alembic.migration import MigrationContext
from flask.cli import with_appcontext

from webapp import db

# The migration that matches the tables the old `flask init-db` (db.create_all) made.
INITIAL_REVISION = "12648cfcb8df"


@click.command("db-ready")
@with_appcontext
def db_ready():
    """Create or upgrade the tables to the latest migration, as `flask db upgrade` does.

    A database made before migrations existed has the initial tables but no recorded revision
    (no alembic_version table, or an empty one left by a failed `flask db upgrade`); it is marked
    as being at the initial migration first, so that upgrading does not create its tables again.
    """
    with db.engine.connect() as connection:
        made_before_migrations = (
            sa.inspect(connection).has_table("user")
            and MigrationContext.configure(connection).get_current_revision() is None
        )
    if made_before_migrations:
        click.echo(f"Database made before migrations: marking it as at revision {INITIAL_REVISION}.")
        flask_migrate.stamp(revision=INITIAL_REVISION)
    flask_migrate.upgrade()
