"""The preparation job through a real RQ worker: final state on the row, outputs, live progress."""

import time

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry

from tests.media import make_audio, make_video
from tests.test_uploads import upload
from webapp import db
from webapp.models import Item, Task, used_bytes
from webapp.pipeline import get_queue, redis_conn
from webapp.storage import item_dir


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory):
    # Long enough that decoding it for the waveform takes several progress intervals.
    path = tmp_path_factory.mktemp("media") / "lecture.mp3"
    make_audio(path, seconds=1200)
    return path


def only_item(app) -> Item:
    return db.session.scalar(db.select(Item))


def test_prepare_runs_on_a_real_worker_with_live_progress(app, client, logged_in, long_audio, run_worker):
    assert upload(client, long_audio).status_code == 303
    with app.app_context():
        item = only_item(app)
        item_id, job_id = item.id, item.tasks[0].rq_job_id
        job = Job.fetch(job_id, connection=redis_conn())

    seen = []
    worker = run_worker("media", wait=False)
    deadline = time.monotonic() + 180
    while worker.poll() is None:
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the worker did not finish within 3 minutes")
        meta = job.get_meta(refresh=True)
        if "progress" in meta:
            seen.append(meta["progress"]["percent"])
        time.sleep(0.005)
    out, _ = worker.communicate()
    assert worker.returncode == 0, out.decode(errors="replace")

    assert any(0 < p < 100 for p in seen), f"no progress in between: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    with app.app_context():
        item = only_item(app)
        (task,) = item.tasks
        assert task.status == Task.DONE and task.error is None
        assert task.started_at and task.finished_at and task.finished_at >= task.started_at
        assert abs(item.duration - 1200) < 0.5 and item.kind == "audio"
        waveform = item.file("waveform")
        path = item_dir(item) / waveform.name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert item.file("poster") is None  # audio has no picture
        assert used_bytes(item.user_id) == sum(f.size for f in item.files)
    fragment = client.get(f"/videos/{item_id}/progress").get_data(as_text=True)
    assert "done" in fragment and "hx-trigger" not in fragment  # polling stops when finished


def test_prepare_makes_a_poster_for_video(app, client, logged_in, tmp_path, run_worker):
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=4, size="640x360")
    assert upload(client, video).status_code == 303
    run_worker("media")
    with app.app_context():
        item = only_item(app)
        assert item.tasks[0].status == Task.DONE
        poster = item_dir(item) / item.file("poster").name
        assert poster.read_bytes()[:3] == b"\xff\xd8\xff"
        item_id = item.id
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert "poster.jpg" in page and "<video" in page


def test_failed_job_shows_a_human_reason_and_keeps_the_traceback_in_rq(
    app, client, logged_in, tmp_path, run_worker
):
    video = tmp_path / "talk.mp4"
    make_video(video, seconds=2)
    assert upload(client, video).status_code == 303
    with app.app_context():
        item = only_item(app)
        original = item_dir(item) / item.file("original").name
        job_id = item.tasks[0].rq_job_id
    original.write_bytes(b"this is no longer a video")  # damaged on disk after the upload
    run_worker("media")
    with app.app_context():
        task = only_item(app).tasks[0]
        assert task.status == Task.FAILED
        assert "Traceback" not in task.error and len(task.error) > 10
        error = task.error
    page = client.get("/videos").get_data(as_text=True)
    assert "failed" in page and error.split(".")[0] in page
    with app.app_context():
        assert job_id in FailedJobRegistry(queue=get_queue("media-short")).get_job_ids()  # a 2 s clip
        job = Job.fetch(job_id, connection=redis_conn())
        assert "Traceback" in job.latest_result().exc_string


def test_a_short_recordings_jobs_wait_in_a_lane_of_their_own_taken_before_long_work(
    app, client, logged_in, long_audio, tmp_path, run_worker
):
    clip = make_video(tmp_path / "clip.mp4", seconds=4)
    assert upload(client, long_audio).status_code == 303  # first in line
    assert upload(client, clip).status_code == 303
    with app.app_context():
        long, short = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
        assert [t.queue for t in long.tasks] == ["media"]
        assert [t.queue for t in short.tasks] == ["media-short"]

    # The short lane's own worker (run.py, Procfile) takes the clip's job, never the long one.
    run_worker("media-short")
    with app.app_context():
        long, short = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
        assert (long.tasks[0].status, short.tasks[0].status) == (Task.QUEUED, Task.DONE)


def test_a_media_worker_that_comes_free_takes_short_work_before_long_work(
    app, client, logged_in, long_audio, tmp_path, run_worker
):
    clip = make_video(tmp_path / "clip.mp4", seconds=4)
    assert upload(client, long_audio).status_code == 303
    assert upload(client, clip).status_code == 303
    run_worker("media")
    with app.app_context():
        items = db.session.scalars(db.select(Item).order_by(Item.created_at))
        long, short = (item.tasks[0] for item in items)
        assert long.status == short.status == Task.DONE
        assert short.started_at < long.started_at  # queued after it, taken before it
