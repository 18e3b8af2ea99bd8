"""Retention: results (and, if configured, originals) past their days are removed by the periodic
maintenance job, which clock.py enqueues; the item says how long its files are kept, or that they went."""

import os
import time
from datetime import timedelta

import pytest
from rq.job import Job

from tests.helpers import csrf_from, wait_until
from tests.media import make_talk
from tests.test_disk import assert_usage_matches_disk, only_item, upload
from webapp import db
from webapp.helpers import day
from webapp.maintenance import MAINTENANCE_TIMEOUT, run_maintenance
from webapp.models import MediaFile, Task, utcnow
from webapp.pipeline import get_queue, redis_conn
from webapp.storage import item_dir
from webapp.tasks.run import Lease


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    pattern = [(1.0, True), (0.8, False), (1.2, True), (1.0, False), (1.0, True)]
    return make_talk(tmp_path_factory.mktemp("retention") / "talk.mp4", pattern)


@pytest.fixture
def processed(app, client, logged_in, video, run_worker):
    """An uploaded video whose silence removal has run: original, previews and results on disk."""
    assert upload(client, video, silence=True).status_code == 303
    run_worker("media")
    item = only_item(app)
    assert {"cut.mp4", "cutlist.json", "poster.jpg"} <= file_names(app, item)
    return item


def file_names(app, item) -> set[str]:
    with app.app_context():
        folder = item_dir(item)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def backdate(app, item, days: float, categories=("originals", "previews", "results")) -> None:
    with app.app_context():
        for f in db.session.scalars(db.select(MediaFile).filter_by(item_id=item.id)):
            if f.category in categories:
                f.created_at = utcnow() - timedelta(days=days)
        db.session.commit()


def page(client, url) -> str:
    return client.get(url).get_data(as_text=True).replace("&#34;", '"')


def test_expired_results_are_removed_by_the_job_and_can_be_made_again(app, client, processed, run_worker):
    item = processed
    with app.app_context():
        made = max(f.created_at for f in db.session.scalars(db.select(MediaFile)) if f.category == "results")
    until = f"Results are kept until {day(made + timedelta(days=30))}."
    assert until in page(client, f"/videos/{item.id}")
    assert until in page(client, "/videos")

    backdate(app, item, 31)
    with app.app_context():
        get_queue("media").enqueue("webapp.maintenance.run_maintenance", job_timeout=MAINTENANCE_TIMEOUT)
    run_worker("media")

    names = file_names(app, item)
    assert "cut.mp4" not in names and "cutlist.json" not in names
    assert {"original.mp4", "poster.jpg", "waveform.png"} <= names  # originals are kept by default
    assert_usage_matches_disk(app, item.user_id)
    html = page(client, f"/videos/{item.id}")
    assert "The results were removed after 30 days; “Run again” makes them again." in html
    assert "Results are kept until" not in html and "Run again with other settings" in html
    assert "The results were removed after 30 days" in page(client, "/videos")

    token = csrf_from(client.get(f"/videos/{item.id}/again"))
    response = client.post(f"/videos/{item.id}/again", data={"csrf_token": token, "silence": "y"})
    assert response.status_code == 303
    run_worker("media")
    assert "cut.mp4" in file_names(app, item)
    assert f"Results are kept until {day(utcnow() + timedelta(days=30))}." in page(
        client, f"/videos/{item.id}"
    )
    assert_usage_matches_disk(app, item.user_id)


def test_expired_original_is_removed_and_the_item_cannot_run_again(app, client, processed):
    item = processed
    app.config["RETENTION_ORIGINALS_DAYS"] = 7
    with app.app_context():
        uploaded = db.session.scalar(db.select(MediaFile).filter_by(role="original")).created_at
    assert f"The original is kept until {day(uploaded + timedelta(days=7))}." in page(
        client, f"/videos/{item.id}"
    )

    backdate(app, item, 8, categories=("originals", "previews"))
    with app.app_context():
        run_maintenance()

    assert file_names(app, item) == {"cut.mp4", "cutlist.json"}  # results are only days old
    assert_usage_matches_disk(app, item.user_id)
    html = page(client, f"/videos/{item.id}")
    assert "The original recording was removed, so this item cannot be run again." in html
    assert "Run again with other settings" not in html
    response = client.get(f"/videos/{item.id}/again", follow_redirects=True)
    assert "cannot be run again" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Task.id))) == 2  # nothing new was queued


@pytest.mark.parametrize("status", [Task.QUEUED, Task.RUNNING])
def test_an_item_with_a_queued_or_running_task_is_left_alone(app, client, processed, status):
    item = processed
    app.config["RETENTION_ORIGINALS_DAYS"] = 7
    with app.app_context():
        task = db.session.scalars(db.select(Task)).first()
        task.status, task_id = status, task.id
        db.session.commit()
    before = file_names(app, item)
    backdate(app, item, 400)
    with app.app_context(), Lease(task_id):  # what the worker running a task keeps alive
        run_maintenance()
    assert file_names(app, item) == before
    assert_usage_matches_disk(app, item.user_id)


def test_retention_0_keeps_files_for_good(app, client, processed):
    item = processed
    app.config["RETENTION_DAYS"] = 0
    before = file_names(app, item)
    backdate(app, item, 3000)
    with app.app_context():
        assert run_maintenance()["retention"].startswith("removed 0 files")
    assert file_names(app, item) == before
    assert "kept until" not in page(client, f"/videos/{item.id}")


def test_two_runs_at_once_and_a_half_done_run_finish_the_work_without_errors(
    app, client, processed, run_worker
):
    item = processed
    backdate(app, item, 31)
    # As if another run had removed this file and not yet its row.
    with app.app_context():
        (item_dir(item) / "cut.mp4").unlink()
        jobs = [
            get_queue("media").enqueue("webapp.maintenance.run_maintenance", job_timeout=MAINTENANCE_TIMEOUT)
            for _ in range(2)
        ]
    workers = [run_worker("media", wait=False) for _ in range(2)]
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output.decode()
    with app.app_context():
        for job in jobs:
            assert Job.fetch(job.id, connection=redis_conn()).get_status() == "finished"
    assert "cut.mp4" not in file_names(app, item) and "cutlist.json" not in file_names(app, item)
    assert_usage_matches_disk(app, item.user_id)
    with app.app_context():
        assert run_maintenance()["retention"].startswith("removed 0 files")


def test_the_clock_enqueues_maintenance_that_a_worker_runs(
    app, app_env, client, processed, start, run_worker
):
    item = processed
    backdate(app, item, 31)
    with app.app_context():
        scratch = item_dir(item) / ".work-1700000000000000000"
    scratch.mkdir()
    os.utime(scratch, (time.time() - 8 * 3600,) * 2)  # left by a worker killed hours ago
    start("clock.py")  # enqueues at once, then every MAINTENANCE_INTERVAL
    with app.app_context():
        queue = get_queue("media")
        wait_until(queue.get_jobs, 30, "the clock to enqueue the maintenance job", step=0.2)
        (job,) = queue.get_jobs()
        assert job.func_name == "webapp.maintenance.run_maintenance" and job.timeout == MAINTENANCE_TIMEOUT
    run_worker("media")
    assert "cut.mp4" not in file_names(app, item) and not scratch.exists()
    with app.app_context():
        result = Job.fetch(job.id, connection=redis_conn()).return_value()
    assert result["retention"].startswith("removed 2 files"), result
    assert result["cleanup"].startswith("removed 1 file or folder,"), result
