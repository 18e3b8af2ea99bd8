"""Scaling out and failure: workers on separate queues; work horses and workers killed in the middle
of a job; Redis restarted under running workers."""

import contextlib
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Worker
from rq.job import Job, JobStatus

from tests.helpers import Auth, csrf_from, processes_with, wait_until
from tests.media import espeak_exe, make_talk, make_video
from tests.test_pipeline_jobs import duration_of, submit
from webapp import db
from webapp.models import Item, Task, utcnow
from webapp.pipeline import REDIS_RETRY_CAP, redis_conn
from webapp.storage import item_dir, user_dir
from webapp.tasks.recovery import LOST_REASON, QUEUE_LOST_REASON, is_lost, recover_lost_tasks
from webapp.tasks.run import lease_key

LEASE = 2  # s: how soon a dead worker's task counts as lost here (30 s in production)


@pytest.fixture(autouse=True)
def short_lease(app_env):
    app_env["TASK_LEASE_SECONDS"] = str(LEASE)


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    """Three minutes of tone bursts and pauses under a video: a silence removal of some seconds."""
    pattern = [(1.6, True), (0.9, False), (2.3, True), (1.2, False)] * 30
    path = tmp_path_factory.mktemp("talk") / "talk.mp4"
    return make_talk(path, pattern, size="640x360", gop_seconds=4)


def task_and_job(app, kind: str) -> tuple[Task, Job]:
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind=kind))
        db.session.expunge(task)
        return task, Job.fetch(task.rq_job_id, connection=redis_conn())


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` with its command name: RQ's work horse (in its own process group),
    its ffmpeg, the worker's scheduler."""
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    children, names = {}, {}
    for line in table.splitlines():
        child, parent, name = line.split(None, 2)
        children.setdefault(int(parent), []).append(int(child))
        names[int(child)] = name.strip()
    found, frontier = {}, [pid]
    while frontier:
        step = [c for p in frontier for c in children.get(p, [])]
        found.update((c, names[c]) for c in step)
        frontier = step
    return found


def worker_pids() -> set[int]:
    """Pids of the workers registered in Redis (RQ registers a worker once it is ready for jobs)."""
    return {worker.pid for worker in Worker.all(connection=redis_conn())}


def running_with_progress(job: Job) -> None:
    """Wait until the job has run a little, and check it has a good way to go."""
    wait_until(lambda: job.get_meta(refresh=True).get("progress", {}).get("percent", 0) > 5, 90, "progress")
    assert job.get_meta()["progress"]["percent"] < 90, "the job ran too fast to be killed in the middle"


def kill_worker_mid_job(worker: subprocess.Popen, job: Job) -> None:
    """SIGKILL the worker and everything it started, as a machine going down would."""
    running_with_progress(job)
    for pid in [*descendants(worker.pid), worker.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def kill_horse_mid_job(app, task: Task, job: Job) -> str:
    """SIGKILL the work horse running `task` (as the kernel's out-of-memory killer would), not its
    ffmpeg, nor its worker. Returns the killed run's scratch folder, whose path ffmpeg's command
    line holds."""
    running_with_progress(job)
    with app.app_context():
        horse = int(redis_conn().get(lease_key(task.id)))  # the lease holds the pid of the horse
        folder = item_dir(db.session.get(Task, task.id).item)
    scratch = wait_until(lambda: scratch_folders(folder), 10, "the job's scratch folder")[0]
    wait_until(lambda: processes_with(scratch), 60, "the job to run ffmpeg on its scratch folder")
    assert job.get_meta(refresh=True)["progress"]["percent"] < 90, "the job is about to finish"
    os.kill(horse, signal.SIGKILL)
    return scratch


def scratch_folders(folder: Path) -> list[str]:
    return [str(p) for p in folder.iterdir() if p.name.startswith(".work-")]


def no_scratch_left(folder: Path) -> bool:
    return not scratch_folders(folder)


def task_row(app, task_id: int) -> Task:
    with app.app_context():
        task = db.session.get(Task, task_id)
        db.session.expunge(task)
        return task


@pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech")
def test_two_workers_on_their_own_queues_process_a_submission(app, client, logged_in, recording, start):
    start("worker.py", "--name", "media-1", "media")
    start("worker.py", "--name", "transcriber-1", "transcribe")
    camera, _ = recording
    submit(client, camera, silence=True, transcribe=True)

    def finished():
        with app.app_context():
            return not db.session.scalar(db.select(Item)).busy

    wait_until(finished, 180, "the jobs to finish", step=0.5)
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        tasks = {t.kind: t for t in item.tasks}
        assert {k: t.status for k, t in tasks.items()} == dict.fromkeys(tasks, Task.DONE), {
            k: t.error for k, t in tasks.items()
        }
        ran_on = {
            kind: Job.fetch(t.rq_job_id, connection=redis_conn()).latest_result().worker_name
            for kind, t in tasks.items()
        }
        assert ran_on == {
            "prepare": "media-1",
            "silence": "media-1",
            "transcribe": "transcriber-1",
            "suggest": "transcriber-1",
            "fit_subtitles": "media-1",
        }
        assert tasks["transcribe"].result["words"] > 20
        assert duration_of(item_dir(item) / item.file("cut").name) < item.duration - 3


def test_a_worker_killed_in_the_middle_of_a_job_is_found_by_another_and_the_job_runs_again(
    app, client, logged_in, talk, start
):
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")
    worker = start("worker.py", "media")
    running_with_progress(job)
    standby = start("worker.py", "media")  # idle until the first one is gone
    # Timed from when it is up: what is measured is how soon a lost task is found, not start-up.
    with app.app_context():
        wait_until(lambda: standby.pid in worker_pids(), 60, "the second worker to start")
    with app.app_context():
        folder = item_dir(db.session.get(Task, task.id).item)
    kill_worker_mid_job(worker, job)
    assert not no_scratch_left(folder)  # the killed job's half-written output
    # The other worker finds the lost task once its lease has run out, and runs it again.
    wait_until(lambda: task_row(app, task.id).attempts == 2, LEASE + 5, "the lost task to be queued again")
    wait_until(lambda: task_row(app, task.id).status == Task.DONE, 120, "the second run to finish", step=0.5)
    with app.app_context():
        task = db.session.get(Task, task.id)
        assert (task.status, task.attempts, task.error) == (Task.DONE, 2, None)
        item = task.item
        assert no_scratch_left(folder)
        # 60 cuts, each on a whole frame: the cut list says what was really kept, to the frame.
        keep = task.result["cutlist"]["keep"]
        assert len(keep) == 60 and all(abs(t * 25 - round(t * 25)) < 1e-6 for span in keep for t in span)
        assert abs(duration_of(folder / item.file("cut").name) - task.result["kept_duration"]) < 1 / 25
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 10, "RQ to record the success")


@pytest.fixture
def production_lease(app_env):
    app_env["TASK_LEASE_SECONDS"] = "30"


def test_a_killed_work_horse_takes_its_ffmpeg_along_and_its_task_is_queued_again_at_once(
    production_lease, app, client, logged_in, talk, start
):
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")
    worker = start("worker.py", "media")

    # Killed once: its worker sees it die, ends its ffmpeg and queues the task again (well before
    # the dead horse's lease runs out), then takes it.
    scratch = kill_horse_mid_job(app, task, job)
    wait_until(lambda: not processes_with(scratch), 5, "the dead horse's ffmpeg to end")
    wait_until(lambda: task_row(app, task.id).attempts == 2, 5, "the task to be queued again")
    assert worker.poll() is None

    # Killed again: it fails with the reason, its ffmpeg ends, and nothing is left behind.
    scratch = kill_horse_mid_job(app, task, job)
    wait_until(lambda: not processes_with(scratch), 5, "the dead horse's ffmpeg to end")
    wait_until(lambda: task_row(app, task.id).status == Task.FAILED, 5, "the task to fail")
    assert worker.poll() is None
    with app.app_context():
        task = db.session.get(Task, task.id)
        assert (task.status, task.attempts, task.error) == (Task.FAILED, 2, LOST_REASON)
        item = task.item
        assert item.file("cut") is None and item.file("cutlist") is None
        folder = item_dir(item)
        assert no_scratch_left(folder)
        assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in item.files)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    page = client.get(f"/videos/{task.item_id}").get_data(as_text=True)
    assert "stopped in the middle" in page and 'class="chip failed"' in page


def test_jobs_lost_from_the_queue_fail_with_the_reason(app, client, logged_in, tmp_path):
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2), silence=True, transcribe=True)
    with app.app_context():
        redis_conn().flushdb()  # the queue server was reset: queued jobs are gone
        assert recover_lost_tasks() == 0  # just submitted: its jobs may still be on their way
        for task in db.session.scalars(db.select(Task)):
            task.enqueued_at -= timedelta(minutes=2)
        db.session.commit()
        assert recover_lost_tasks() == 3  # the fitting of subtitles and the suggestions waited
        states = {t.kind: (t.status, t.error) for t in db.session.scalars(db.select(Task))}
    assert states == {
        "prepare": (Task.FAILED, QUEUE_LOST_REASON),
        "silence": (Task.FAILED, QUEUE_LOST_REASON),
        "transcribe": (Task.FAILED, QUEUE_LOST_REASON),
        "suggest": (Task.CANCELLED, "Not run, because “Transcribe” failed."),
        "fit_subtitles": (Task.CANCELLED, "Not run, because “Remove silence” failed."),
    }


def test_deleting_an_item_stops_its_running_media_job_and_its_ffmpeg(app, client, logged_in, talk, start):
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")
    worker = start("worker.py", "media")
    wait_until(lambda: job.get_meta(refresh=True).get("progress", {}).get("percent", 0) > 25, 90, "encoding")

    def ffmpegs() -> list[int]:
        return [pid for pid, name in descendants(worker.pid).items() if name == "ffmpeg"]

    assert ffmpegs(), "silence removal should be encoding with ffmpeg by now"
    with app.app_context():
        folder = item_dir(db.session.get(Task, task.id).item)
    token = csrf_from(client.get(f"/videos/{task.item_id}"))
    assert client.post(f"/videos/{task.item_id}/delete", data={"csrf_token": token}).status_code == 303
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.STOPPED, 30, "the job to stop")
    wait_until(lambda: not ffmpegs(), 10, "ffmpeg to be gone")
    assert not folder.exists()
    assert worker.poll() is None  # the worker lives on for the next job


def upload(client, media: Path):
    token = csrf_from(client.get("/videos/new"))
    with open(media, "rb") as m:
        data = {"csrf_token": token, "silence": "y", "media": (m, media.name)}
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    return response


def test_a_redis_restart_leaves_workers_and_their_job_running_and_pages_working(
    own_redis, app, client, logged_in, talk, start, tmp_path
):
    clip = make_video(tmp_path / "clip.mp4", seconds=2)
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")
    worker = start("worker.py", "media")
    others = [start("worker.py", "transcribe"), start("clock.py")]
    running_with_progress(job)

    own_redis.stop()
    try:
        time.sleep(8)  # longer than redis-py's own retries, and several of the workers' heartbeats
        item = f"/videos/{task.item_id}"
        for path in ("/videos", item, f"{item}/progress", "/account", "/stats"):
            response = client.get(path)
            assert response.status_code == 200, path
        page = client.get(item).get_data(as_text=True)
        assert "does not answer right now" in page and "progress not known right now" in page
        # Logging in needs no Redis (rate limits are not counted meanwhile).
        assert Auth(app, app.test_client()).login().status_code == 302
        # What needs the queue says so, and stores and changes nothing.
        response = upload(client, clip)
        assert response.status_code == 503 and "does not answer" in response.get_data(as_text=True)
        token = csrf_from(client.get(item))
        assert client.post(f"{item}/delete", data={"csrf_token": token}).status_code == 503
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count(Item.id))) == 1
            assert db.session.get(Task, task.id).status == Task.RUNNING
            assert len(list(user_dir(logged_in.id).iterdir())) == 1  # the one item
        assert worker.poll() is None
    finally:
        own_redis.start()  # also when it failed: the workers need it to stop cleanly
    wait_until(lambda: task_row(app, task.id).status == Task.DONE, 120, "the job to finish", step=0.5)
    with app.app_context():
        task = db.session.get(Task, task.id)
        assert (task.attempts, task.error) == (1, None)  # it went on, and never failed
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 10, "RQ to record the success")
    assert [p.poll() for p in (worker, *others)] == [None] * 3
    assert "does not answer" not in client.get("/videos").get_data(as_text=True)


def test_right_after_a_redis_restart_running_tasks_are_given_time_to_renew_their_leases(
    own_redis, app, client, logged_in, tmp_path
):
    """A restarted Redis has lost or expired every lease and heartbeat: the workers that are alive
    renew them once they are reconnected, so nobody may count their tasks as lost before that."""
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2), silence=True)
    task, _ = task_and_job(app, "prepare")
    # Redis counts its uptime in whole seconds of the clock: start the task and restart Redis
    # within one second and look just after the next one begins, when Redis says "up 1 s"
    # though only half a second went by since the task started.
    while not 0.4 < time.time() % 1 < 0.5:
        time.sleep(0.01)
    with app.app_context():
        # As run by a worker that has not reconnected yet.
        db.session.get(Task, task.id).status, db.session.get(Task, task.id).started_at = (
            Task.RUNNING,
            utcnow(),
        )
        db.session.commit()

    def recovered() -> int:
        with app.app_context():
            try:
                return recover_lost_tasks()
            finally:
                db.session.remove()

    own_redis.stop()
    own_redis.start()
    time.sleep(1.05 - time.time() % 1)
    assert recovered() == 0 and task_row(app, task.id).status == Task.RUNNING
    wait_until(recovered, LEASE + REDIS_RETRY_CAP + 5, "a task lost for good to be found", step=0.5)


def test_a_task_that_finishes_while_recovery_looks_at_it_stays_done(
    app, client, logged_in, tmp_path, run_worker
):
    """Recovery loaded the task while it ran; its worker then committed the result and dropped the
    lease. No lease, job no longer started: that must not make a finished task 'lost'."""
    from sqlalchemy.orm.attributes import set_committed_value

    submit(client, make_video(tmp_path / "clip.mp4", seconds=2))
    run_worker("media")
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind="prepare"))
        assert task.status == Task.DONE, task.error
        set_committed_value(task, "status", Task.RUNNING)  # as recovery loaded it, a moment before
        assert not is_lost(task, redis_conn())
        assert recover_lost_tasks() == 0
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind="prepare"))
        assert (task.status, task.error) == (Task.DONE, None)
