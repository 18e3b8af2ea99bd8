"""The RQ job of every task: load the row, run its kind's runner (or reuse an identical earlier
result), and record the outcome on the row.

It reports progress into `job.meta`, records outputs, figures and timings on the row, and lets
exceptions propagate so RQ records the failure with its traceback; the job's failure callback
records the human reason on the row. A failed task cancels the tasks that wait for it, with the
reason stated on each. A task's end, and an item's whole run done, go to the owner's webhooks.
No transaction stays open while the work runs.
"""

import logging
import os
import threading
import time

import redis
from flask import current_app
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from webapp import db
from webapp.disk import check_room_for_task
from webapp.kinds import KINDS
from webapp.models import Task, utcnow
from webapp.pipeline import STARTING_STAGE, cancel_jobs, dependants, redis_conn
from webapp.queues import queue_of
from webapp.quota import check_space_for_task
from webapp.tasks.outputs import drop_sound_when_idle
from webapp.tasks.progress import Progress, TaskCancelled
from webapp.tasks.reuse import earlier_result, input_key, reuse
from webapp.webhooks import events
from webapp.webhooks.delivery import send

log = logging.getLogger(__name__)


def preload(queues: list[str]) -> None:
    """Load what jobs on these queues need once, in the worker process, before any job runs."""
    for kind in KINDS.values():
        if kind.preload and kind.queue in {queue_of(name) for name in queues}:
            kind.preload(current_app.config)


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
            record_failure(task, human_reason(exc_value))
    except Exception:
        # Raising here would hide the job's own traceback in RQ; recover_lost_tasks() settles the row.
        log.exception("could not record the failure of job %s", job.id)
    finally:
        db.session.remove()


def _run(task: Task, progress: Progress) -> dict | None:
    task.status, task.started_at, task.error = Task.RUNNING, utcnow(), None
    task.attempts, task.outputs, task.reused_from = task.attempts + 1, [], None
    waited_for = [t.finished_at for t in task.item.tasks if t.id in task.after and t.finished_at]
    ready = max([task.enqueued_at, *waited_for])
    task.wait_seconds = (task.started_at - ready).total_seconds()
    db.session.commit()
    clock = time.monotonic()
    # Everything from here is inside the failure handling: whatever goes wrong (an unknown kind, a
    # file gone missing) fails the task with a reason instead of leaving it "running".
    try:
        progress(0, STARTING_STAGE)  # the chip says "starting" until the runner reports its own step
        task.input_key = input_key(task)
        source = earlier_result(task)
        check_space_for_task(task)
        if source is None:
            check_room_for_task(task)
        db.session.commit()
        result = reuse(task, source) if source is not None else KINDS[task.kind].runner(task, progress)
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
    drop_sound_when_idle(task.item_id)  # before the commit: whoever sees it done finds it gone
    deliveries = events.task_ended(task)
    db.session.commit()
    progress(100, "Done")
    deliveries += events.item_ready(task.item)  # once the commit shows this task done to the others
    db.session.commit()
    send(deliveries)
    return result


def record_failure(task: Task, reason: str) -> None:
    task.status, task.error, task.finished_at = Task.FAILED, reason, utcnow()
    label = KINDS[task.kind].label if task.kind in KINDS else task.kind  # a kind since removed
    cancel_jobs(dependants(task), f"Not run, because “{label}” failed.")
    drop_sound_when_idle(task.item_id)
    deliveries = events.task_ended(task)
    db.session.commit()
    send(deliveries)


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
