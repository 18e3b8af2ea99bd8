"""The DATABASE_URL=postgresql://… path: the same upload and worker flow on a real PostgreSQL.

Runs when a PostgreSQL server answers (PG_TEST_URL, default the local one); skipped otherwise.
"""

import os
import uuid

import pytest
import sqlalchemy as sa

from tests.media import make_video
from tests.test_uploads import upload
from webapp import db
from webapp.models import Item, Task, used_bytes

ADMIN_URL = os.environ.get("PG_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_database():
    try:
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as error:  # no server here: nothing to test against
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {error.__class__.__name__}")
    name = f"cutroom_test_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    # The plain postgresql:// form people write; config points it at psycopg 3.
    yield ADMIN_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database "{name}" with (force)'))
    admin.dispose()


@pytest.fixture
def app_env(app_env, pg_database):
    return {**app_env, "DATABASE_URL": pg_database}


def test_upload_and_preparation_on_postgresql(app, client, logged_in, tmp_path, run_worker):
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=2)
    assert upload(client, video).status_code == 303
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert item.tasks[0].status == Task.DONE
        assert item.file("poster") is not None
        assert used_bytes(item.user_id) == sum(f.size for f in item.files) > video.stat().st_size
