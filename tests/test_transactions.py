"""Jobs (and uploads) hold no database transaction while they work, a job runs only the task it
was made for, and a task whose job failed never stays queued: on SQLite and on PostgreSQL, with
real workers, real media and real gunicorn."""

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq.job import Job, JobStatus

from jobs.silence import DETECT_SHARE
from tests.helpers import PASSWORD, ROOT, csrf_from, make_user, wait_until
from tests.media import make_talk, make_video
from tests.test_postgres import on_postgresql
from tests.test_uploads import Browser, upload
from tests.test_workers import task_and_job
from webapp import db
from webapp.models import Item, Task
from webapp.pipeline import get_queue, redis_conn
from webapp.tasks.recovery import JOB_FAILED_REASON, recover_lost_tasks


@pytest.fixture(params=["sqlite", "postgresql"])
def app_env(request, app_env):
    if request.param == "postgresql":
        return on_postgresql(app_env, request.getfixturevalue("pg_database"))
    return app_env


@pytest.fixture(scope="module")
def long_talk(tmp_path_factory) -> Path:
    """Five minutes of tone bursts and pauses under a video: a silence removal that encodes for a while."""
    pattern = [(4.0, True), (1.5, False), (5.5, True), (2.0, False)] * 23
    return make_talk(tmp_path_factory.mktemp("long") / "talk.mp4", pattern, size="640x360", gop_seconds=4)


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("short") / "short.mp4", seconds=2)


def login(app, email: str):
    client = app.test_client()
    token = csrf_from(client.get("/login"))
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def held_transactions(app) -> list[str]:
    """What holds a transaction open in the database right now, seen from outside the app."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # fails at once while another connection writes
            conn.execute("ROLLBACK")
            return []
        except sqlite3.OperationalError as error:
            return [str(error)]
        finally:
            conn.close()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select state, query from pg_stat_activity where datname = current_database() "
                "and state like 'idle in transaction%' and pid <> pg_backend_pid()"
            )
        ).all()
    engine.dispose()
    return [f"{state}: {query}" for state, query in rows]


def test_web_writes_and_a_second_job_go_through_while_a_long_job_encodes(
    app, client, logged_in, long_talk, short_video, start, run_worker
):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        assert sqlite3.connect(path).execute("pragma journal_mode").fetchone() == ("wal",)
    make_user(app, "bob@example.com")
    bob = login(app, "bob@example.com")
    assert upload(bob, short_video).status_code == 303  # an item of Bob's to delete later
    with app.app_context():
        bobs_item = db.session.scalar(db.select(Item)).id
    assert upload(client, long_talk, silence="y").status_code == 303
    task, job = task_and_job(app, "silence")
    start("worker.py", "media")
    # Past detection (its first DETECT_SHARE %), which now reads the shared sound in a blink: the
    # edit is written and committed then, and the render must hold no transaction after it.
    encoding = DETECT_SHARE + 2
    wait_until(
        lambda: job.get_meta(refresh=True).get("progress", {}).get("percent", 0) > encoding, 60, "encoding"
    )
    assert held_transactions(app) == []

    # While it encodes: a sign-up, an upload from another account, a delete of another item.
    newcomer = app.test_client()
    token = csrf_from(newcomer.get("/signup"))
    signup = newcomer.post(
        "/signup", data={"email": "cy@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert signup.status_code == 200 and "Check your inbox" in signup.get_data(as_text=True)
    assert upload(bob, short_video).status_code == 303
    token = csrf_from(bob.get(f"/videos/{bobs_item}"))
    assert bob.post(f"/videos/{bobs_item}/delete", data={"csrf_token": token}).status_code == 303
    assert job.get_status(refresh=True) == JobStatus.STARTED, "the web writes waited for the long job"
    # A second worker runs the new upload's preparation beside the long job.
    run_worker("media", timeout=60)
    with app.app_context():
        bobs_tasks = db.session.scalars(db.select(Task).join(Item).where(Item.id != task.item_id)).all()
        assert [(t.kind, t.status, t.error) for t in bobs_tasks] == [("prepare", Task.DONE, None)]

    assert job.get_status(refresh=True) == JobStatus.STARTED, "the long job ended too soon to prove anything"
    assert held_transactions(app) == []
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 120, "the long job", step=0.2)
    with app.app_context():
        assert db.session.get(Task, task.id).status == Task.DONE


def test_a_job_made_for_another_task_does_nothing(app, client, logged_in, short_video, run_worker):
    """An old failed job requeued by an admin after its task id was given to a new task."""
    assert upload(client, short_video).status_code == 303
    with app.app_context():
        task = db.session.scalar(db.select(Task))
        stale = get_queue("media").enqueue(
            "webapp.tasks.run.run_task",
            task.id,
            job_id="cutroom-0123456789ab-1",
            job_timeout=60,
            at_front=True,
        )
        real = Job.fetch(task.rq_job_id, connection=redis_conn())
    run_worker("media")
    assert stale.get_status(refresh=True) == JobStatus.FINISHED and stale.return_value() is None
    assert real.return_value()["duration"] == pytest.approx(2, abs=0.1)  # the task's own job ran it
    with app.app_context():
        assert db.session.get(Task, task.id).status == Task.DONE


def test_a_task_whose_job_failed_before_it_started_does_not_stay_queued(
    app, app_env, client, logged_in, short_video
):
    assert upload(client, short_video).status_code == 303
    # A worker whose database refuses writes: the job fails before the task is marked running,
    # and its failure callback cannot record it either.
    url = app_env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        read_only = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    else:
        read_only = url + "?options=-c%20default_transaction_read_only%3Don"
    env = {**os.environ, **app_env, "DATABASE_URL": read_only}
    subprocess.run([sys.executable, "worker.py", "--burst", "media"], cwd=ROOT, env=env, timeout=60)
    with app.app_context():
        task = db.session.scalar(db.select(Task))
        assert task.status == Task.QUEUED
        assert Job.fetch(task.rq_job_id, connection=redis_conn()).get_status() == JobStatus.FAILED
        task.enqueued_at -= timedelta(minutes=2)  # past the time a submission is given to settle
        db.session.commit()
        assert recover_lost_tasks() == 1
        task = db.session.get(Task, task.id)
        assert (task.status, task.error) == (Task.FAILED, JOB_FAILED_REASON)
    page = client.get(f"/videos/{task.item_id}").get_data(as_text=True)
    assert "This job failed before it could start" in page


def test_an_upload_holds_no_transaction_while_it_streams(app, logged_in, short_video, gunicorn_server):
    browser = Browser(gunicorn_server)
    browser.login()
    head, tail, headers = browser.upload_parts(short_video)
    half = short_video.stat().st_size // 2
    halfway, go_on = threading.Event(), threading.Event()

    def body():
        with open(short_video, "rb") as f:
            yield head + f.read(half)
            halfway.set()
            go_on.wait(30)
            yield f.read() + tail

    sending = threading.Thread(target=lambda: browser.request("POST", "/videos/new", body(), headers))
    sending.start()
    try:
        halfway.wait(30)
        wait_until(lambda: any(Path(app.config["MEDIA_ROOT"]).rglob("*.part")), 10, "the upload to arrive")
        assert held_transactions(app) == []
    finally:
        go_on.set()
        sending.join(30)
    with app.app_context():
        assert db.session.scalar(db.select(Item)) is not None
