"""Worker side of the pipeline: the RQ job that runs one task row with the engine in `jobs/`.

It loads the row by id, reports progress into `job.meta`, records outputs, figures and timings
on the row, and lets exceptions propagate so RQ records the failure with its traceback. A failed
task cancels the tasks that wait for it, with the reason stated on each.
"""

import json
import logging
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from webapp import db
from webapp.disk import check_room_for_task
from webapp.models import Item, MediaFile, Task, utcnow
from webapp.pipeline import TASK_KINDS, cancel_flag, cancel_jobs, dependants
from webapp.storage import item_dir

log = logging.getLogger(__name__)


def preload(queues: list[str]) -> None:
    """Load what jobs on these queues need once, in the worker process, before any job runs."""
    if "transcribe" in queues:
        from jobs.transcribe import load_model

        load_model(current_app.config["TRANSCRIBE_MODEL"] or None)


class TaskCancelled(Exception):
    """The task was cancelled (its item deleted, or a job it waited for failed) while it ran."""


class Progress:
    """Writes percent and stage into job.meta, at most once per PROGRESS_INTERVAL, and stops
    the job there if it has been cancelled meanwhile."""

    def __init__(self, job):
        self.job = job
        self.interval = current_app.config["PROGRESS_INTERVAL"]
        self.last = 0.0

    def __call__(self, percent: float, stage: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - self.last < self.interval:
            return
        self.last = now
        if self.job is None:
            return
        if self.job.connection.exists(cancel_flag(self.job.id)):
            raise TaskCancelled(self.job.id)
        self.job.meta["progress"] = {"percent": round(min(max(percent, 0), 100), 1), "stage": stage}
        self.job.save_meta()


def human_reason(error: Exception) -> str:
    from jobs.errors import MediaError

    if isinstance(error, MediaError):
        return str(error)
    if isinstance(error, JobTimeoutException):
        return "This took longer than the time allowed for it and was stopped."
    return "Something went wrong on our side. The operator can see the details."


def run_task(task_id: int) -> dict | None:
    """RQ job: run task `task_id`. Returns the result recorded on the row."""
    try:
        task = db.session.get(Task, task_id)
        if task is None or task.status not in Task.ACTIVE:
            log.info("task %s is gone or no longer active; nothing to do", task_id)
            return None
        task.status, task.started_at = Task.RUNNING, utcnow()
        waited_for = [t.finished_at for t in task.item.tasks if t.id in task.after and t.finished_at]
        ready = max([task.enqueued_at, *waited_for])
        task.wait_seconds = (task.started_at - ready).total_seconds()
        db.session.commit()
        progress = Progress(get_current_job())
        progress(0, "Starting")
        clock = time.monotonic()
        try:
            check_room_for_task(task)
            result = RUNNERS[task.kind](task, progress)
        except TaskCancelled:
            # Whoever cancelled it has recorded why (or deleted the item); just stop.
            db.session.rollback()
            log.info("task %s was cancelled while running; stopped", task_id)
            return None
        except Exception as error:
            db.session.rollback()
            _record_failure(task, human_reason(error))
            raise
        task.run_seconds = time.monotonic() - clock
        if task.item.duration and task.run_seconds > 0:
            task.realtime_factor = task.item.duration / task.run_seconds
        task.status, task.result, task.finished_at = Task.DONE, result, utcnow()
        db.session.commit()
        progress(100, "Done")
        return result
    finally:
        # A non-forking worker reuses this session for the next job: start it clean.
        db.session.remove()


def _record_failure(task: Task, reason: str) -> None:
    task.status, task.error, task.finished_at = Task.FAILED, reason, utcnow()
    label = TASK_KINDS[task.kind]["label"]
    cancel_jobs(dependants(task), f"Not run, because “{label}” failed.")
    db.session.commit()


# --- runners: one per task kind ------------------------------------------------------------


def _record_output(item: Item, role: str, path: Path) -> MediaFile:
    """Register a finished output file on the item, replacing an older one of the same role."""
    for old in [f for f in item.files if f.role == role]:
        item.files.remove(old)
        if old.name != path.name:  # e.g. cut.wav made again as cut.m4a from the synced file
            (item_dir(item) / old.name).unlink(missing_ok=True)
    # The unit of work inserts before it deletes: the old row must be gone before one of the same name comes.
    db.session.flush()
    output = MediaFile(role=role, name=path.name, size=path.stat().st_size)
    item.files.append(output)
    return output


@contextmanager
def _scratch(item: Item):
    """A temp folder beside the item's files (same filesystem, so moving out is a rename)."""
    path = item_dir(item) / f".work-{time.time_ns()}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _publish(item: Item, scratch: Path, outputs: dict[str, str]) -> dict[str, str]:
    """Move finished outputs (role -> name in scratch) into the item's folder and register them."""
    folder = item_dir(item)
    for role, name in outputs.items():
        (scratch / name).replace(folder / name)
        _record_output(item, role, folder / name)
    return outputs


def _path(item: Item, role: str) -> Path:
    return item_dir(item) / item.file(role).name


def _source(item: Item) -> Path:
    """What the jobs after sync work on: the synced file when there is one, else the original."""
    return _path(item, "synced" if item.file("synced") else "original")


def run_prepare(task: Task, progress: Progress) -> dict:
    from jobs.prepare import prepare

    item = task.item
    with _scratch(item) as scratch:
        result = prepare(_path(item, "original"), scratch, on_progress=progress)
        _publish(item, scratch, {role: name for role, name in result["outputs"].items() if name})
    info = result["info"]
    item.info, item.duration = info, info["duration"]
    item.kind = "video" if info.get("video") else "audio"
    return {"duration": info["duration"], "outputs": result["outputs"]}


def run_sync(task: Task, progress: Progress) -> dict:
    from jobs.sync import sync_audio

    item = task.item
    original = _path(item, "original")
    name = "synced" + (original.suffix if item.kind == "video" else ".m4a")
    with _scratch(item) as scratch:
        result = sync_audio(
            original,
            _path(item, "external"),
            scratch / name,
            keep_camera_audio=task.params.get("keep_camera_audio", False),
            on_progress=progress,
        )
        _publish(item, scratch, {"synced": name})
    return result


def run_silence(task: Task, progress: Progress) -> dict:
    from jobs.silence import remove_silence

    item = task.item
    source = _source(item)
    params = task.params
    with _scratch(item) as scratch:
        result = remove_silence(
            source,
            scratch / ("cut" + source.suffix),
            threshold_db=params.get("threshold_db", "auto"),
            min_silence=params.get("min_silence", 0.5),
            margin=params.get("margin", 0.2),
            on_progress=progress,
        )
        (scratch / "cutlist.json").write_text(json.dumps(result["cutlist"], indent=1))
        _publish(item, scratch, {"cut": "cut" + source.suffix, "cutlist": "cutlist.json"})
    return result


def run_transcribe(task: Task, progress: Progress) -> dict:
    from jobs.transcribe import transcribe

    item = task.item
    with _scratch(item) as scratch:
        result = transcribe(
            _source(item),
            scratch,
            model=current_app.config["TRANSCRIBE_MODEL"] or None,
            language=task.params.get("language"),
            vad=task.params.get("vad", False),
            on_progress=progress,
        )
        _publish(item, scratch, {f"transcript_{fmt}": name for fmt, name in result["outputs"].items()})
    return result


def run_fit_subtitles(task: Task, progress: Progress) -> dict:
    from jobs.cutlist import CutList
    from jobs.subtitles import fit_to_cut, write_outputs

    item = task.item
    progress(10, "Fitting subtitles to the cut")
    transcript = json.loads(_path(item, "transcript_json").read_text())
    cutlist = CutList.from_dict(json.loads(_path(item, "cutlist").read_text()))
    fitted = fit_to_cut(transcript, cutlist)
    with _scratch(item) as scratch:
        outputs = write_outputs(fitted, scratch, stem="cut")
        _publish(item, scratch, {f"cut_{fmt}": name for fmt, name in outputs.items()})
    words = sum(len(s.get("words", [])) for s in fitted["segments"])
    return {"segments": len(fitted["segments"]), "words": words, "outputs": outputs}


RUNNERS = {
    "prepare": run_prepare,
    "sync": run_sync,
    "silence": run_silence,
    "transcribe": run_transcribe,
    "fit_subtitles": run_fit_subtitles,
}
