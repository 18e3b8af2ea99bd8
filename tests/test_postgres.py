"""The DATABASE_URL=postgresql://… path: tables made by `flask db upgrade`, then the upload and worker flow.

Runs when a PostgreSQL server answers (PG_TEST_URL, default the local one); skipped otherwise.
"""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.helpers import ROOT, csrf_from
from tests.media import make_video
from tests.test_uploads import upload
from webapp import db
from webapp.models import Item, Task, used_bytes
from webapp.tasks.recovery import LOST_REASON, recover_lost_tasks


@pytest.fixture
def app_env(app_env, pg_database):
    return on_postgresql(app_env, pg_database)


def on_postgresql(app_env: dict, pg_database: str) -> dict:
    """The environment pointed at `pg_database`, its tables made the way a deployment makes them;
    `app`'s create_all then finds nothing to do."""
    env = {**app_env, "DATABASE_URL": pg_database}
    upgrade = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    return env


def test_upload_and_preparation_on_postgresql(app, client, logged_in, tmp_path, run_worker):
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    with app.app_context():
        assert sa.inspect(db.engine).has_table("alembic_version")
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=2)
    assert upload(client, video).status_code == 303
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert item.tasks[0].status == Task.DONE
        assert item.file("poster") is not None
        assert used_bytes(item.user_id) == sum(f.size for f in item.files) > video.stat().st_size


def test_result_reuse_and_lost_task_recovery_on_postgresql(app, client, logged_in, tmp_path, run_worker):
    video = make_video(tmp_path / "talk.mp4", seconds=2)
    for _ in range(2):
        assert upload(client, video, silence="y").status_code == 303
        run_worker("media")
    with app.app_context():
        first, second = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
        assert all(t.status == Task.DONE and t.reused_from is None for t in first.tasks)
        assert [t.reused_from for t in second.tasks] == [t.id for t in first.tasks]
        # A task marked running with no worker behind it (its job long over) is found and failed.
        task = second.tasks[0]
        task.status = Task.RUNNING
        db.session.commit()
        assert recover_lost_tasks() == 1
        task = db.session.get(Task, task.id)
        assert (task.status, task.error) == (Task.FAILED, LOST_REASON)


def test_a_nul_in_a_path_or_a_webhook_url_is_refused_not_a_server_error(app, client, logged_in):
    # PostgreSQL refuses NUL in text outright, where SQLite only finds no row.
    assert client.get("/videos/a%00b").status_code == 404
    assert client.get("/api/v1/items/a%00b").status_code == 404
    page = client.get("/account")
    refused = client.post(
        "/account/webhooks",
        data={"csrf_token": csrf_from(page), "url": "http://192.0.2.10/a\x00b", "events": ["item.ready"]},
    )
    assert refused.status_code == 400
    assert "control character" in refused.get_data(as_text=True)
