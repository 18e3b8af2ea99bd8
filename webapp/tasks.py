"""Worker side of the pipeline: the RQ job that runs one task row with the engine in `jobs/`.

It loads the row by id, reports progress into `job.meta`, records outputs and figures on
the row, and lets exceptions propagate so RQ records the failure with its traceback.
"""

import logging
import shutil
import time
from pathlib import Path

from flask import current_app
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from webapp import db
from webapp.models import Item, MediaFile, Task, utcnow
from webapp.storage import item_dir

log = logging.getLogger(__name__)


def preload(queues: list[str]) -> None:
    """Load what jobs on these queues need once, in the worker before it forks per job."""


class Progress:
    """Writes percent and stage into job.meta, at most once per PROGRESS_INTERVAL."""

    def __init__(self, job):
        self.job = job
        self.interval = current_app.config["PROGRESS_INTERVAL"]
        self.last = 0.0

    def __call__(self, percent: float, stage: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - self.last < self.interval:
            return
        self.last = now
        if self.job is not None:
            self.job.meta["progress"] = {"percent": round(min(max(percent, 0), 100), 1), "stage": stage}
            self.job.save_meta()


def run_task(task_id: int) -> dict | None:
    """RQ job: run task `task_id`. Returns the result recorded on the row."""
    from jobs.errors import MediaError

    task = db.session.get(Task, task_id)
    if task is None or task.status not in Task.ACTIVE:
        log.info("task %s is gone or no longer active; nothing to do", task_id)
        return None
    task.status, task.started_at = Task.RUNNING, utcnow()
    db.session.commit()
    progress = Progress(get_current_job())
    progress(0, "Starting")
    try:
        result = RUNNERS[task.kind](task, progress)
    except Exception as error:
        if isinstance(error, MediaError):
            reason = str(error)
        elif isinstance(error, JobTimeoutException):
            reason = "This took longer than the time allowed for it and was stopped."
        else:
            reason = "Something went wrong on our side. The operator can see the details."
        db.session.rollback()
        task.status, task.error, task.finished_at = Task.FAILED, reason, utcnow()
        db.session.commit()
        raise
    task.status, task.result, task.finished_at = Task.DONE, result, utcnow()
    db.session.commit()
    progress(100, "Done")
    return result


def _record_output(item: Item, role: str, path: Path) -> MediaFile:
    """Register a finished output file on the item, replacing an older one of the same role."""
    for old in [f for f in item.files if f.role == role]:
        item.files.remove(old)
    output = MediaFile(role=role, name=path.name, size=path.stat().st_size)
    item.files.append(output)
    return output


def run_prepare(task: Task, progress: Progress) -> dict:
    from jobs.prepare import prepare

    item = task.item
    original = item.file("original")
    folder = item_dir(item)
    with _scratch_dir(folder) as scratch:
        result = prepare(folder / original.name, scratch, on_progress=progress)
        for role, name in result["outputs"].items():
            if name:
                (scratch / name).replace(folder / name)
                _record_output(item, role, folder / name)
    info = result["info"]
    item.info, item.duration = info, info["duration"]
    item.kind = "video" if info.get("video") else "audio"
    return {"duration": info["duration"], "outputs": result["outputs"]}


class _scratch_dir:
    """A temp folder beside the item's files (same filesystem, so moving out is a rename)."""

    def __init__(self, folder: Path):
        self.path = folder / f".work-{int(time.time() * 1000)}"

    def __enter__(self) -> Path:
        self.path.mkdir()
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


RUNNERS = {"prepare": run_prepare}
