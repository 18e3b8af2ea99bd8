"""Migrations: they make exactly the models' tables, undo cleanly, and adopt a database made before them.

Each test runs on SQLite, and on PostgreSQL when a server answers (PG_TEST_URL, default the local
one; skipped otherwise).
"""

import shutil

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from webapp import MIGRATIONS, create_app, db
from webapp.models import Item, MediaFile, Task, User
from webapp.schema import INITIAL_REVISION

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cutroom.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def bare_app(database_url, tmp_path, monkeypatch):
    """The app on an empty database, inside an app context: each test makes the tables its own way."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    app = create_app({"TESTING": True})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def flask(app, *args: str):
    """Run a `flask` command on the app; fail with its output and traceback if it fails."""
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def schema_differences() -> list:
    """What `flask db migrate` would put in a new migration: nothing when the tables match the models."""
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_makes_the_tables_of_the_models(bare_app):
    # Fails when a model changed without a migration: run `flask --app wsgi db migrate -m "..."`.
    flask(bare_app, "db", "upgrade")
    assert current_revision() == HEAD
    assert schema_differences() == []


def test_downgrade_to_base_then_upgrade_again(bare_app):
    flask(bare_app, "db", "upgrade")
    flask(bare_app, "db", "downgrade", "base")
    assert table_names() == {"alembic_version"} and current_revision() is None
    flask(bare_app, "db", "upgrade")
    assert current_revision() == HEAD
    assert schema_differences() == []


def test_db_ready_makes_a_new_database_and_is_harmless_when_repeated(bare_app):
    first = flask(bare_app, "db-ready")
    flask(bare_app, "db-ready")
    assert "made before migrations" not in first.output
    assert current_revision() == HEAD
    assert schema_differences() == []


@pytest.mark.parametrize("version_table", ["missing", "empty"])
def test_db_ready_adopts_a_database_made_before_migrations(bare_app, version_table):
    """Such a database has the tables of the initial migration and no revision recorded: no
    alembic_version table, or an empty one (left by a plain `flask db upgrade` that failed on it).

    The old `flask init-db` ran db.create_all, which made exactly the initial migration's tables;
    they are made by that migration here because create_all now makes today's tables, which the
    later migrations would then fail to add again.
    """
    flask(bare_app, "db", "upgrade", INITIAL_REVISION)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                'insert into "user" (email, password_hash, session_token, created_at, is_admin, disabled) '
                "values ('ada@example.com', 'hash', 'token', '2025-01-01 00:00:00', false, false)"
            )
        )
        conn.execute(
            sa.text(
                "drop table alembic_version" if version_table == "missing" else "delete from alembic_version"
            )
        )

    result = flask(bare_app, "db-ready")

    assert "made before migrations" in result.output
    assert current_revision() == HEAD
    assert schema_differences() == []
    assert db.session.scalars(sa.select(User.email)).all() == ["ada@example.com"]


REBUILD_ITEM_TABLE = '''"""rebuild the item table, as SQLite migrations that alter it do"""

from alembic import op

revision = "rebuild_item"
down_revision = {head!r}


def upgrade():
    with op.batch_alter_table("item", recreate="always"):
        pass


def downgrade():
    pass
'''


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_table_rebuild_keeps_the_rows_that_refer_to_the_table(bare_app, tmp_path):
    # With foreign keys on, dropping the old item table would cascade-delete its tasks and files.
    flask(bare_app, "db", "upgrade")
    with db.engine.begin() as conn:
        for statement in [
            "insert into user (id, email, password_hash, created_at, is_admin, disabled) "
            "values (1, 'ada@example.com', 'hash', '2025-01-01', 0, 0)",
            "insert into item (id, user_id, title, created_at) values ('i1', 1, 'talk.mp4', '2025-01-01')",
            "insert into media_file (item_id, role, name, size, created_at) "
            "values ('i1', 'original', 'original.mp4', 10, '2025-01-01')",
            "insert into task (item_id, kind, queue, status, params, after, enqueued_at) "
            "values ('i1', 'silence', 'media', 'done', '{}', '[]', '2025-01-01')",
        ]:
            conn.execute(sa.text(statement))
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "rebuild_item.py").write_text(REBUILD_ITEM_TABLE.format(head=HEAD))

    flask(bare_app, "db", "upgrade", "--directory", str(migrations))

    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from task")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from media_file")).scalar() == 1
        # The pooled connection the migration used has its foreign keys back on.
        assert conn.execute(sa.text("pragma foreign_keys")).scalar() == 1


# The migration that made ids never reused (AUTOINCREMENT on SQLite), and the one before it.
NEVER_REUSE_IDS = "5b7e2c9a41f3"
BEFORE_NEVER_REUSE_IDS = ScriptDirectory(str(MIGRATIONS)).get_revision(NEVER_REUSE_IDS).down_revision
TABLES = (User, MediaFile, Task)


def test_ids_are_never_reused_in_a_database_upgraded_from_before(bare_app):
    flask(bare_app, "db", "upgrade", BEFORE_NEVER_REUSE_IDS)
    with db.engine.begin() as conn:
        for n in (1, 2):
            user_id = conn.execute(
                sa.text(
                    'insert into "user" (email, password_hash, session_token, created_at, is_admin, '
                    "disabled) values (:email, 'hash', :email, '2025-01-01', false, false) returning id"
                ),
                {"email": f"user{n}@example.com"},
            ).scalar()
            for statement in [
                "insert into item (id, user_id, title, created_at) values (:item, :user, 't', '2025-01-01')",
                "insert into media_file (item_id, role, name, size, created_at) "
                "values (:item, 'original', 'original.mp4', 10, '2025-01-01')",
                "insert into task (item_id, kind, queue, status, params, after, enqueued_at, attempts, "
                "outputs) values (:item, 'silence', 'media', 'done', '{}', '[]', '2025-01-01', 0, '[]')",
            ]:
                conn.execute(sa.text(statement), {"item": f"i{n}", "user": user_id})
    flask(bare_app, "db", "upgrade")
    highest = {model: db.session.scalar(sa.select(sa.func.max(model.id))) for model in TABLES}
    db.session.delete(db.session.get(User, highest[User]))  # its item, file and task go with it
    db.session.commit()

    user = User(email="new@example.com", password_hash="hash")
    item = Item(user=user, title="t", files=[MediaFile(role="original", name="o.mp4", size=1)])
    item.tasks = [Task(kind="silence", queue="media")]
    db.session.add(item)
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 2, "the other account is kept"
    for model, new in zip(TABLES, (user.id, item.files[0].id, item.tasks[0].id), strict=True):
        assert new > highest[model], model.__name__


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_tables_keep_autoincrement_through_every_migration(bare_app):
    # A migration that rebuilds a table (batch mode) drops AUTOINCREMENT unless it passes
    # table_kwargs={"sqlite_autoincrement": True}: reflection does not see it.
    flask(bare_app, "db", "upgrade")
    with db.engine.connect() as conn:
        sql = dict(conn.execute(sa.text("select name, sql from sqlite_master where type = 'table'")).all())
    for table in db.metadata.sorted_tables:
        wanted = table.dialect_options["sqlite"]["autoincrement"]
        assert ("AUTOINCREMENT" in sql[table.name]) == wanted, table.name


def test_stored_addresses_are_folded_as_sign_up_now_folds_them(bare_app):
    flask(bare_app, "db", "upgrade", BEFORE_NEVER_REUSE_IDS)
    stored = ["ｂｏｂ@example.com", "ada@example.com", "ａｄａ@example.com"]
    with db.engine.begin() as conn:
        for email in stored:
            conn.execute(
                sa.text(
                    'insert into "user" (email, password_hash, session_token, created_at, is_admin, '
                    "disabled) values (:email, 'hash', :email, '2025-01-01', false, false)"
                ),
                {"email": email},
            )
    flask(bare_app, "db", "upgrade")
    emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    # The look-alike of an existing account is kept as it was, for the operator to sort out.
    assert emails == ["bob@example.com", "ada@example.com", "ａｄａ@example.com"]
