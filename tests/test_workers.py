"""Scaling out and failure: workers on separate queues, and workers killed in the middle of a job."""

import contextlib
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from tests.conftest import csrf_from, wait_until
from tests.media import espeak_exe, make_talk, make_video
from tests.test_pipeline_jobs import duration_of, item_files, submit
from webapp import db
from webapp.models import Item, Task
from webapp.pipeline import redis_conn
from webapp.tasks import LOST_REASON, QUEUE_LOST_REASON, recover_lost_tasks

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


def kill_worker_mid_job(worker: subprocess.Popen, job: Job, horse_only: bool = False) -> None:
    """SIGKILL the work horse (as the kernel's out-of-memory killer would) and, unless
    `horse_only`, the worker and everything it started (as a machine going down would)."""
    wait_until(lambda: job.get_meta(refresh=True).get("progress", {}).get("percent", 0) > 5, 90, "progress")
    assert job.get_meta()["progress"]["percent"] < 90, "the job ran too fast to be killed in the middle"
    victims = list(descendants(worker.pid))
    if not horse_only:
        victims.append(worker.pid)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if not horse_only:
        worker.wait(10)


def no_scratch_left(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".work-")]


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
            "fit_subtitles": "media-1",
        }
        assert tasks["transcribe"].result["words"] > 20
        assert duration_of(item_files(app, item) / item.file("cut").name) < item.duration - 3


def test_a_worker_killed_in_the_middle_of_a_job_is_replaced_and_the_job_runs_again(
    app, client, logged_in, talk, start, run_worker
):
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")
    worker = start("worker.py", "media")
    kill_worker_mid_job(worker, job)
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        folder = item_files(app, item)
        assert db.session.get(Task, task.id).status == Task.RUNNING  # nobody knows yet
        assert not no_scratch_left(folder)  # the killed job's half-written output
        assert item.file("cut") is None

    # The replacement worker, as a process manager would start it, finds the lost task at start.
    time.sleep(LEASE + 1)
    log = run_worker("media")
    assert "was lost with its worker; queued again" in log, log
    with app.app_context():
        task = db.session.get(Task, task.id)
        assert (task.status, task.attempts, task.error) == (Task.DONE, 2, None)
        item = task.item
        assert no_scratch_left(folder)
        # 60 cuts, each on a whole frame: the cut list says what was really kept, to the frame.
        keep = task.result["cutlist"]["keep"]
        assert len(keep) == 60 and all(abs(t * 25 - round(t * 25)) < 1e-6 for span in keep for t in span)
        assert abs(duration_of(folder / item.file("cut").name) - task.result["kept_duration"]) < 1 / 25
        assert job.get_status(refresh=True) == JobStatus.FINISHED


def test_a_job_lost_twice_fails_with_the_reason_and_leaves_nothing_behind(
    app, client, logged_in, talk, start
):
    submit(client, talk, silence=True)
    task, job = task_and_job(app, "silence")

    # First the work horse alone is killed: its worker lives on and records the failure in RQ.
    worker = start("worker.py", "media")
    kill_worker_mid_job(worker, job, horse_only=True)
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.FAILED, 30, "RQ to record the failure")
    assert worker.poll() is None

    def recovered() -> int:
        with app.app_context():
            try:
                return recover_lost_tasks()
            finally:
                db.session.remove()

    wait_until(recovered, 30, "the lost task to be found", step=0.5)
    # The same worker takes it up again; this time the whole worker goes down.
    kill_worker_mid_job(worker, job)
    wait_until(recovered, 30, "the lost task to be found", step=0.5)

    with app.app_context():
        task = db.session.get(Task, task.id)
        assert (task.status, task.attempts, task.error) == (Task.FAILED, 2, LOST_REASON)
        item = task.item
        assert item.file("cut") is None and item.file("cutlist") is None
        folder = item_files(app, item)
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
        assert recover_lost_tasks() == 3  # the fitting of subtitles waited for two of them
        states = {t.kind: (t.status, t.error) for t in db.session.scalars(db.select(Task))}
    assert states == {
        "prepare": (Task.FAILED, QUEUE_LOST_REASON),
        "silence": (Task.FAILED, QUEUE_LOST_REASON),
        "transcribe": (Task.FAILED, QUEUE_LOST_REASON),
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
        folder = item_files(app, db.session.get(Task, task.id).item)
    token = csrf_from(client.get(f"/videos/{task.item_id}"))
    assert client.post(f"/videos/{task.item_id}/delete", data={"csrf_token": token}).status_code == 303
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.STOPPED, 30, "the job to stop")
    wait_until(lambda: not ffmpegs(), 10, "ffmpeg to be gone")
    assert not folder.exists()
    assert worker.poll() is None  # the worker lives on for the next job
