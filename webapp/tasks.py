"""Worker side of the pipeline: the RQ job that runs one task row with the engine in `jobs/`.

It loads the row by id, reports progress into `job.meta`, records outputs, figures and timings
on the row, and lets exceptions propagate so RQ records the failure with its traceback; the job's
failure callback records the human reason on the row. A failed task cancels the tasks that wait
for it, with the reason stated on each. No transaction stays open while the work runs.
"""

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import redis
import sqlalchemy as sa
from flask import current_app
from rq import Worker, get_current_job
from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.timeouts import JobTimeoutException
from rq.utils import now

from webapp import db
from webapp.disk import check_room_for_task
from webapp.models import Item, MediaFile, Task, utcnow
from webapp.pipeline import (
    FAILURE_TTL,
    REDIS_RETRY_CAP,
    STARTING_STAGE,
    TASK_KINDS,
    cancel_flag,
    cancel_jobs,
    dependants,
    redis_conn,
)
from webapp.quota import check_space_for_task
from webapp.storage import item_dir
from webapp.timeleft import TimeLeft

log = logging.getLogger(__name__)


def preload(queues: list[str]) -> None:
    """Load what jobs on these queues need once, in the worker process, before any job runs."""
    if "transcribe" in queues:
        from jobs.transcribe import load_model

        load_model(current_app.config["TRANSCRIBE_MODEL"] or None)


class TaskCancelled(Exception):
    """The task was cancelled (its item deleted, or a job it waited for failed) while it ran."""


class Progress:
    """Writes percent, stage and the time left into job.meta, at most once per PROGRESS_INTERVAL,
    and stops the job there if it has been cancelled meanwhile.

    The percent written never goes down (a step that starts its own count from zero does not
    move the bar back), and the time left is a steady estimate (see webapp/timeleft.py): a clock
    in wall-clock time, which the page runs down between reports."""

    def __init__(self, job):
        self.job = job
        self.interval = current_app.config["PROGRESS_INTERVAL"]
        self.last = 0.0
        self.highest = 0.0
        self.time_left = TimeLeft()

    def __call__(self, percent: float, stage: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - self.last < self.interval:
            return
        self.last = now
        if self.job is None:
            return
        if self.job.connection.exists(cancel_flag(self.job.id)):
            raise TaskCancelled(self.job.id)
        self.highest = max(self.highest, round(min(max(percent, 0), 100), 1))
        clock = self.time_left.update(self.highest, time.time())
        self.job.meta["progress"] = {
            "percent": self.highest,
            "stage": stage,
            "time_left": asdict(clock) if clock else None,
        }
        self.job.save_meta()


def human_reason(error: Exception) -> str:
    from jobs.errors import MediaError

    if isinstance(error, MediaError):
        return str(error)
    if isinstance(error, JobTimeoutException):
        return "This took longer than the time allowed for it and was stopped."
    return "Something went wrong on our side. The operator can see the details."


def run_task(task_id: int) -> dict | None:
    """RQ job: run task `task_id`, or take the outputs of an identical earlier one.

    Returns the result recorded on the row. Does nothing when the task is no longer active, or
    when this job is not the one made for it.
    """
    # Each state change is committed at once, and no transaction stays open while the work runs
    # (it would lock SQLite for every other writer, and leave a PostgreSQL connection idle in
    # transaction): so the rows loaded before the work stay loaded after a commit.
    db.session().expire_on_commit = False
    try:
        task = db.session.get(Task, task_id)
        job = get_current_job()
        if task is None or task.status not in Task.ACTIVE:
            log.info("task %s is gone or no longer active; nothing to do", task_id)
            return None
        if job is None or task.rq_job_id != job.id:
            # An old job requeued by hand, while its task id now belongs to another task.
            log.warning(
                "job %s was not made for task %s (its job is %s); nothing to do",
                getattr(job, "id", None),
                task_id,
                task.rq_job_id,
            )
            return None
        with Lease(task.id):
            return _run(task, Progress(job))
    finally:
        # A non-forking worker reuses this session for the next job: start it clean.
        db.session.remove()


def on_task_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback of every task job: the task is failed with a human reason, wherever
    its job failed (the database at its first commit, a timeout, the work itself)."""
    if exc_type is AbandonedJobError:
        return  # its worker died: recover_lost_tasks() decides whether it runs again
    try:
        task = db.session.get(Task, job.args[0])
        if task is not None and task.status in Task.ACTIVE and task.rq_job_id == job.id:
            _record_failure(task, human_reason(exc_value))
    except Exception:
        # Raising here would hide the job's own traceback in RQ; recover_lost_tasks() settles the row.
        log.exception("could not record the failure of job %s", job.id)
    finally:
        db.session.remove()


def _run(task: Task, progress: "Progress") -> dict | None:
    task.status, task.started_at, task.error = Task.RUNNING, utcnow(), None
    task.attempts, task.outputs, task.reused_from = task.attempts + 1, [], None
    waited_for = [t.finished_at for t in task.item.tasks if t.id in task.after and t.finished_at]
    ready = max([task.enqueued_at, *waited_for])
    task.wait_seconds = (task.started_at - ready).total_seconds()
    db.session.commit()
    progress(0, STARTING_STAGE)  # the chip says "starting" until the runner reports its own step
    clock = time.monotonic()
    try:
        task.input_key = input_key(task)
        source = earlier_result(task)
        check_space_for_task(task)
        if source is None:
            check_room_for_task(task)
        db.session.commit()
        result = _reuse(task, source) if source is not None else RUNNERS[task.kind](task, progress)
    except TaskCancelled:
        # Whoever cancelled it has recorded why (or deleted the item); just stop.
        db.session.rollback()
        log.info("task %s was cancelled while running; stopped", task.id)
        return None
    except Exception:
        db.session.rollback()
        raise  # on_task_failure() records it
    task.run_seconds = time.monotonic() - clock
    # A reused result took no processing, so it says nothing about processing speed.
    if task.item.duration and task.run_seconds > 0 and source is None:
        task.realtime_factor = task.item.duration / task.run_seconds
    task.status, task.result, task.finished_at = Task.DONE, result, utcnow()
    db.session.commit()
    progress(100, "Done")
    return result


def _record_failure(task: Task, reason: str) -> None:
    task.status, task.error, task.finished_at = Task.FAILED, reason, utcnow()
    label = TASK_KINDS[task.kind]["label"]
    cancel_jobs(dependants(task), f"Not run, because “{label}” failed.")
    db.session.commit()


class Lease:
    """A Redis key kept alive while a task runs, from a thread of the process running it.

    If that process dies (SIGKILL, out of memory, machine gone) the key expires, which is how
    recover_lost_tasks() tells a lost task from a slow one, on any machine sharing the Redis.
    """

    def __init__(self, task_id: int):
        self.key = lease_key(task_id)
        self.ttl = current_app.config["TASK_LEASE_SECONDS"]
        self.conn = redis_conn()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name=f"lease-{task_id}", daemon=True)

    def _renew(self) -> None:
        while not self.stopped.wait(self.ttl / 3):
            try:
                self.conn.set(self.key, os.getpid(), ex=self.ttl)
            except redis.RedisError as error:
                log.warning("could not renew %s: %s", self.key, error)

    def __enter__(self):
        self.conn.set(self.key, os.getpid(), ex=self.ttl)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.conn.delete(self.key)


def lease_key(task_id: int) -> str:
    return f"cutroom:lease:{task_id}"


# --- lost tasks: their worker died ---------------------------------------------------------

MAX_ATTEMPTS = 2
LOST_REASON = (
    "The worker processing this stopped in the middle (it was killed or ran out of memory), so it "
    "was given up. Try “Run again”; if it happens again, the file may be too big for this server."
)


QUEUE_LOST_REASON = (
    "This job was lost from the queue before it ran (the queue server was reset). Use “Run again”."
)

JOB_FAILED_REASON = (
    "This job failed before it could start, so it was given up (the operator can see why). Use “Run again”."
)


def recover_lost_tasks() -> int:
    """Tasks marked running whose worker died: queue them again once, else fail them with a reason.
    Tasks marked queued whose job is gone from Redis: fail them with a reason.

    Run by every worker as it starts and every few seconds (see worker.py), and by the maintenance
    job. Returns how many lost tasks it found.
    """
    conn = redis_conn()
    lock = _recovery_lock(conn, blocking=False)
    if not lock.acquire():
        return 0  # another process is at it right now
    try:
        running = db.session.scalars(sa.select(Task).where(Task.status == Task.RUNNING)).all()
        # A Redis that restarted lost the leases and heartbeats of the tasks already running: give
        # their workers time to reconnect and renew them.
        up_for = conn.info("server")["uptime_in_seconds"]
        if up_for < current_app.config["TASK_LEASE_SECONDS"] + REDIS_RETRY_CAP:
            # Redis counts whole seconds of its clock (up_for is 1 when 0.1 s went by across a
            # second's edge): a second less keeps a task started just before the restart spared.
            up_since = utcnow() - timedelta(seconds=max(up_for - 1, 0))
            running = [task for task in running if task.started_at > up_since]
        lost = [task for task in running if _lost(task, conn)]
        for task in lost:
            _recover(task, conn)
        # Rows are committed just before their jobs are enqueued: give a submission time to finish.
        settled = utcnow() - timedelta(minutes=1)
        queued = db.session.scalars(
            sa.select(Task).where(Task.status == Task.QUEUED, Task.enqueued_at < settled)
        ).all()
        vanished = [task for task in queued if not conn.exists(Job.key_for(task.rq_job_id))]
        for task in vanished:
            if task.status == Task.QUEUED:  # not cancelled meanwhile as waiting for another one
                _record_failure(task, QUEUE_LOST_REASON)
                lost.append(task)
        # Its job failed before the task was marked running, and could not record it then.
        for task in queued:
            if task.status == Task.QUEUED and _job_ended(task, conn):
                _record_failure(task, JOB_FAILED_REASON)
                lost.append(task)
        db.session.commit()
        return len(lost)
    finally:
        lock.release()


def _job_ended(task: Task, conn) -> bool:
    job = _job(task, conn)
    return job is not None and job.get_status() in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def recover_dead_horse_task(job_id: str) -> None:
    """The work horse running RQ job `job_id` died (killed, out of memory) and its worker saw it:
    recover its task now, as recover_lost_tasks() would once the dead horse's lease ran out."""
    conn = redis_conn()
    with _recovery_lock(conn, blocking=True):
        task = db.session.scalar(sa.select(Task).where(Task.rq_job_id == job_id, Task.status == Task.RUNNING))
        if task is not None:
            _recover(task, conn)
        db.session.commit()


def _recovery_lock(conn, blocking: bool):
    """One process at a time decides which tasks are lost, so none is queued again twice."""
    return conn.lock("cutroom:recover-lock", timeout=120, blocking=blocking, blocking_timeout=60)


def _job(task: Task, conn) -> Job | None:
    try:
        return Job.fetch(task.rq_job_id, connection=conn)
    except NoSuchJobError:
        return None


def _lost(task: Task, conn) -> bool:
    """No lease, and no worker that is alive says it runs the job.

    The second test covers a forking worker whose work horse just died: the worker itself is
    alive (it sends heartbeats while it watches its horse) and is about to record the failure in
    RQ; the next round takes it from there.
    """
    if conn.exists(lease_key(task.id)):
        return False
    # Its worker may have finished it since the row was loaded: it stops the lease only once the
    # result is committed, so a row that still says running now is one nobody will finish.
    db.session.refresh(task)
    if task.status != Task.RUNNING:
        return False
    job = _job(task, conn)
    if job is None or job.get_status() != JobStatus.STARTED or not job.worker_name:
        return True
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=conn)
    # A non-forking worker sends no heartbeat while it runs a job, so only the lease speaks for it.
    if worker is None or worker.last_heartbeat is None or worker.get_current_job_id() != job.id:
        return True
    return now() - worker.last_heartbeat > timedelta(seconds=current_app.config["TASK_LEASE_SECONDS"])


def _recover(task: Task, conn) -> None:
    job = _job(task, conn)
    for scratch in item_dir(task.item).glob(_scratch_prefix(task) + "*"):
        shutil.rmtree(scratch, ignore_errors=True)  # what the dead job had half written
    if job is not None and job.get_status() == JobStatus.STARTED:
        # Its worker died with it: record that in RQ too, so rq-dashboard shows it as failed.
        StartedJobRegistry(job.origin, connection=conn).remove_executions(job)
        job.set_status(JobStatus.FAILED)
        job.failed_job_registry.add(
            job, ttl=FAILURE_TTL, exc_string="Lost: the worker running it stopped (killed, or out of memory)."
        )
    if job is not None and job.get_status() == JobStatus.FAILED and task.attempts < MAX_ATTEMPTS:
        log.warning("task %s was lost with its worker; queued again", task.id)
        task.status, task.started_at = Task.QUEUED, None
        db.session.commit()
        job.meta.pop("progress", None)  # the lost run's; the next run starts from 0
        job.save_meta()
        job.requeue()
    else:
        log.warning("task %s was lost with its worker %s times; failed", task.id, task.attempts)
        _record_failure(task, LOST_REASON)


# --- result reuse --------------------------------------------------------------------------

# Raise when a change to jobs/ makes new results differ from stored ones, so those are not reused.
ENGINE_VERSION = 2


def _source_role(item: Item) -> str:
    """What the jobs after sync work on: the synced file when there is one, else the original."""
    return "synced" if item.file("synced") else "original"


def _input_roles(task: Task) -> list[str]:
    source = _source_role(task.item)
    return {
        "prepare": ["original"],
        "sync": ["original", "external"],
        "silence": [source],
        "transcribe": [source],
        "fit_subtitles": ["transcript_json", "cutlist"],
    }[task.kind]


def input_key(task: Task) -> str | None:
    """What the outputs of `task` depend on, hashed: its kind, parameters and the content of its
    inputs (and the model, for transcription). None when an input's content is not known."""
    inputs = []
    for role in _input_roles(task):
        stored = task.item.file(role)
        if stored is None or stored.content_key is None:
            return None
        inputs.append([role, stored.content_key])
    recipe = {"kind": task.kind, "params": task.params, "inputs": inputs, "engine": ENGINE_VERSION}
    if task.kind == "transcribe":
        recipe["model"] = current_app.config["TRANSCRIBE_MODEL"]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def earlier_result(task: Task) -> Task | None:
    """The latest done task of the same user with the same input key whose outputs are all still
    stored (retention, a delete or a later run may have removed them)."""
    if task.input_key is None:
        return None
    candidates = db.session.scalars(
        sa.select(Task)
        .join(Item)
        .where(Item.user_id == task.item.user_id, Task.input_key == task.input_key)
        .where(Task.status == Task.DONE, Task.id != task.id)
        .order_by(Task.id.desc())
    )
    for candidate in candidates:
        folder = item_dir(candidate.item)
        files = [candidate.item.file(role) for role in candidate.outputs]
        if files and all(
            f is not None and f.content_key == task.input_key and (folder / f.name).is_file() for f in files
        ):
            return candidate
    return None


def _reuse(task: Task, source: Task) -> dict:
    """Take the outputs and figures of `source`, an identical earlier task, instead of running.

    Files are hard-linked into this item's folder (copied where links do not work): no disk is
    spent, yet each item counts them, as each can be deleted without the other.
    """
    item = task.item
    if source.item_id == item.id:
        task.outputs = list(source.outputs)  # run again with the same settings: already in place
    else:
        with _scratch(task) as scratch:
            names = {}
            for role in source.outputs:
                stored = source.item.file(role)
                _link_or_copy(item_dir(source.item) / stored.name, scratch / stored.name)
                names[role] = stored.name
            _publish(task, scratch, names)
        if task.kind == "prepare":  # preparation also describes the file on the item
            item.info, item.duration, item.kind = source.item.info, source.item.duration, source.item.kind
    task.reused_from = source.id
    log.info("task %s reused the result of task %s", task.id, source.id)
    return source.result


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# --- runners: one per task kind ------------------------------------------------------------


def _record_output(task: Task, role: str, path: Path) -> MediaFile:
    """Register a finished output file of `task`, replacing an older one of the same role."""
    item = task.item
    _forget_output(item, role, keep=path.name)
    # The unit of work inserts before it deletes: the old row must be gone before one of the same name comes.
    db.session.flush()
    output = MediaFile(role=role, name=path.name, size=path.stat().st_size, content_key=task.input_key)
    item.files.append(output)
    task.outputs = [*task.outputs, role]
    return output


def _forget_output(item: Item, role: str, keep: str | None = None) -> None:
    """Drop the file of `role` from `item`, and from the disk unless it is named `keep`."""
    for old in [f for f in item.files if f.role == role]:
        item.files.remove(old)
        if old.name != keep:  # e.g. cut.wav made again as cut.m4a from the synced file
            (item_dir(item) / old.name).unlink(missing_ok=True)


# The share of a sync's or silence removal's progress its output's browser preview takes.
PROXY_SHARE = 30.0


def _split_progress(task: Task, progress: Progress):
    """Progress callbacks for the job's own work and for the browser preview of its output after
    it. The preview takes a share only when the original needed one: results keep its codecs."""
    from jobs.prepare import MAKING_PROXY

    split = 100.0 - PROXY_SHARE if task.item.file("original_proxy") else 100.0

    def work(percent: float, stage: str) -> None:
        progress(percent * split / 100, stage)

    def preview(fraction: float) -> None:
        progress(split + (100 - split) * fraction, MAKING_PROXY)

    return work, preview


def _with_proxy(task: Task, scratch: Path, role: str, name: str, on_progress) -> dict[str, str]:
    """{role: name}, plus its browser preview as "<role>_proxy" when browsers cannot play it."""
    from jobs.proxy import proxy_if_needed

    proxy = proxy_if_needed(scratch / name, scratch, on_progress=on_progress)
    if proxy is None:
        _forget_output(task.item, f"{role}_proxy")  # an earlier run's, of another file
        return {role: name}
    return {role: name, f"{role}_proxy": proxy}


def _scratch_prefix(task: Task) -> str:
    return f".work-{task.id}-"


@contextmanager
def _scratch(task: Task):
    """A temp folder beside the item's files (same filesystem, so moving out is a rename).

    Named after the task, so the scratch of a task whose worker died can be found and removed.
    """
    path = item_dir(task.item) / f"{_scratch_prefix(task)}{time.time_ns()}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _publish(task: Task, scratch: Path, outputs: dict[str, str]) -> dict[str, str]:
    """Move finished outputs (role -> name in scratch) into the item's folder and register them."""
    folder = item_dir(task.item)
    for role, name in outputs.items():
        (scratch / name).replace(folder / name)
        _record_output(task, role, folder / name)
    return outputs


def _path(item: Item, role: str) -> Path:
    return item_dir(item) / item.file(role).name


def _source(item: Item) -> Path:
    return _path(item, _source_role(item))


SYNCED_WAVEFORM = "synced_waveform.png"
# Share of the sync task's progress taken by the sync itself; drawing its waveform takes the rest.
SYNC_SHARE = 95.0


def run_prepare(task: Task, progress: Progress) -> dict:
    from jobs.prepare import prepare

    item = task.item
    with _scratch(task) as scratch:
        result = prepare(_path(item, "original"), scratch, on_progress=progress)
        _publish(task, scratch, {role: name for role, name in result["outputs"].items() if name})
    info = result["info"]
    item.info, item.duration = info, info["duration"]
    item.kind = "video" if info.get("video") else "audio"
    return {"duration": info["duration"], "outputs": result["outputs"]}


def run_sync(task: Task, progress: Progress) -> dict:
    from jobs.containers import job_extension
    from jobs.prepare import draw_waveform
    from jobs.sync import sync_audio

    item = task.item
    original = _path(item, "original")
    video = (item.info or {}).get("video")
    # The picture is copied: the original's container if it carries it, else Matroska.
    name = "synced" + (job_extension(original, video["codec"], copies_video=True) if video else ".m4a")
    work, preview = _split_progress(task, progress)
    with _scratch(task) as scratch:
        result = sync_audio(
            original,
            _path(item, "external"),
            scratch / name,
            keep_camera_audio=task.params.get("keep_camera_audio", False),
            on_progress=lambda percent, stage: work(percent * SYNC_SHARE / 100, stage),
        )
        # Silence removal cuts the synced sound: the item page draws its pauses over this picture.
        draw_waveform(
            scratch / name,
            scratch / SYNCED_WAVEFORM,
            result["output_duration"],
            lambda fraction: work(SYNC_SHARE + (100 - SYNC_SHARE) * fraction, "Drawing waveform"),
        )
        outputs = _with_proxy(task, scratch, "synced", name, preview)
        _publish(task, scratch, {**outputs, "synced_waveform": SYNCED_WAVEFORM})
    return result


def run_silence(task: Task, progress: Progress) -> dict:
    from jobs.containers import job_extension
    from jobs.silence import remove_silence

    item = task.item
    source = _source(item)
    params = task.params
    video = (item.info or {}).get("video")
    name = "cut" + job_extension(source, video and video["codec"])
    work, preview = _split_progress(task, progress)
    with _scratch(task) as scratch:
        result = remove_silence(
            source,
            scratch / name,
            threshold_db=params.get("threshold_db", "auto"),
            min_silence=params.get("min_silence", 0.5),
            margin=params.get("margin", 0.2),
            on_progress=work,
        )
        (scratch / "cutlist.json").write_text(json.dumps(result["cutlist"], indent=1))
        outputs = _with_proxy(task, scratch, "cut", name, preview)
        _publish(task, scratch, {**outputs, "cutlist": "cutlist.json"})
    return result


def run_transcribe(task: Task, progress: Progress) -> dict:
    from jobs.transcribe import transcribe

    item = task.item
    with _scratch(task) as scratch:
        result = transcribe(
            _source(item),
            scratch,
            model=current_app.config["TRANSCRIBE_MODEL"] or None,
            language=task.params.get("language"),
            vad=task.params.get("vad", True),
            on_progress=progress,
        )
        _publish(task, scratch, {f"transcript_{fmt}": name for fmt, name in result["outputs"].items()})
    return result


def run_fit_subtitles(task: Task, progress: Progress) -> dict:
    from jobs.cutlist import CutList
    from jobs.subtitles import fit_to_cut, write_outputs

    item = task.item
    progress(10, "Fitting subtitles to the cut")
    transcript = json.loads(_path(item, "transcript_json").read_text())
    cutlist = CutList.from_dict(json.loads(_path(item, "cutlist").read_text()))
    fitted = fit_to_cut(transcript, cutlist)
    with _scratch(task) as scratch:
        outputs = write_outputs(fitted, scratch, stem="cut")
        _publish(task, scratch, {f"cut_{fmt}": name for fmt, name in outputs.items()})
    words = sum(len(s.get("words", [])) for s in fitted["segments"])
    return {"segments": len(fitted["segments"]), "words": words, "outputs": outputs}


RUNNERS = {
    "prepare": run_prepare,
    "sync": run_sync,
    "silence": run_silence,
    "transcribe": run_transcribe,
    "fit_subtitles": run_fit_subtitles,
}
