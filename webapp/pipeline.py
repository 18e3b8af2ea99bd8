"""Web side of the job pipeline: Redis connection, enqueueing tasks by name, reading their live state.

The web process never runs the media code: it enqueues `webapp.tasks.run.run_task` by its dotted
name and only reads what the workers write (task rows, `job.meta`). What each kind of task is,
where it runs and how long it may take is in webapp/kinds/.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from flask import current_app, g
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry as RedisRetry
from rq import Callback, Queue, Retry
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from werkzeug.exceptions import ServiceUnavailable

from webapp import db, edits
from webapp.kinds import KINDS
from webapp.models import Item, Task
from webapp.queues import lane
from webapp.timeleft import Clock

log = logging.getLogger(__name__)


RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600


# Seconds at most between a waiting worker's attempts to reach Redis.
REDIS_RETRY_CAP = 5


class _LoggedBackoff(ExponentialBackoff):
    """The wait between attempts to reach Redis, logged so the operator sees why a worker waits."""

    def compute(self, failures: int) -> float:
        delay = super().compute(failures)
        log.warning("Redis does not answer (attempt %d); trying again in %g s", failures, delay)
        return delay


def redis_options(wait: bool) -> dict:
    """redis-py client options. A worker waits out a Redis restart or outage (every command is
    retried for ever, 0.5 s doubling to REDIS_RETRY_CAP between attempts), so it and its running job
    carry on once Redis is back. A web request gives up at once (after one reconnect, for a
    connection the restart closed), so a page renders without the live parts instead of hanging."""
    if wait:
        return {"retry": RedisRetry(_LoggedBackoff(cap=REDIS_RETRY_CAP, base=0.25), -1)}
    return {"retry": RedisRetry(NoBackoff(), 1), "socket_connect_timeout": 2, "socket_timeout": 5}


def redis_conn() -> redis.Redis:
    """One connection pool per app, shared by the queues, the rate limiter and progress reads.

    An app made with WAIT_FOR_REDIS (workers, the clock) waits for Redis; see redis_options()."""
    conn = current_app.extensions.get("cutroom_redis")
    if conn is None:
        options = redis_options(current_app.config.get("WAIT_FOR_REDIS", False))
        conn = redis.Redis.from_url(current_app.config["REDIS_URL"], **options)
        current_app.extensions["cutroom_redis"] = conn
    return conn


class QueueUnavailable(ServiceUnavailable):
    """Redis does not answer, so what needs the job queue cannot be done (the app's error page)."""

    human = True
    description = (
        "This needs the job queue, and its server does not answer right now. Nothing was stored or "
        "changed; try again in a minute."
    )


def require_queue() -> None:
    """Raise QueueUnavailable unless Redis answers: before storing anything that must be queued."""
    try:
        redis_conn().ping()
    except redis.RedisError as error:
        raise QueueUnavailable() from error


@contextmanager
def submitting(item: Item) -> Iterator[bool]:
    """Around queueing more jobs for `item`: True when this request may go on (it holds the item's
    lock, and the item has no job queued or running), False when another request is at it. A view
    checks and queues apart, so without the lock two requests that both found it idle both queue."""
    lock = redis_conn().lock(f"cutroom:submit:{item.id}", timeout=60, blocking=False)
    if not lock.acquire():
        yield False
        return
    try:
        db.session.commit()  # a fresh read: what another request queued just before is seen
        yield not item.busy
    finally:
        lock.release()


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_conn())


def enqueue_mail(message: dict) -> None:
    """Send mail from a worker, retrying while the mail server is unreachable."""
    get_queue("mail").enqueue(
        "webapp.mail.deliver",
        message,
        job_timeout=60,
        retry=Retry(max=5, interval=[10, 30, 120, 600, 1800]),
        result_ttl=3600,
        failure_ttl=FAILURE_TTL,
        description=f"mail: {message['subject']}",
    )


def submit(item: Item, specs: list[dict]) -> list[Task]:
    """Create one task row per spec and enqueue its job, ordered with `depends_on`.

    A spec is {"kind": ..., "params": {...}, "after": [kinds this task waits for]}.
    Rows are committed before enqueueing so a worker always finds the row it is given.
    """
    tasks = {}
    for spec in specs:
        kind = KINDS[spec["kind"]]
        params = spec.get("params", {})
        if kind.edit:  # it works on the edit as it is now: later changes are for a later run
            params = {**params, "edit": edits.edit_params(item)}
        task = Task(item=item, kind=kind.name, queue=lane(kind.queue, item.duration), params=params)
        db.session.add(task)
        tasks[spec["kind"]] = task
    db.session.flush()
    for spec in specs:
        task = tasks[spec["kind"]]
        task.rq_job_id = f"cutroom-{item.id}-{task.id}"
        task.after = [tasks[kind].id for kind in spec.get("after", [])]
    db.session.commit()

    jobs = {}
    for spec in specs:
        task = tasks[spec["kind"]]
        jobs[spec["kind"]] = get_queue(task.queue).enqueue(
            "webapp.tasks.run.run_task",
            task.id,
            job_id=task.rq_job_id,
            job_timeout=KINDS[task.kind].timeout,
            depends_on=[jobs[k] for k in spec.get("after", [])] or None,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            on_failure=Callback("webapp.tasks.run.on_task_failure"),
            description=f"{task.kind} of item {item.id}",
        )
    return list(tasks.values())


# A live state only, between queued and running: a worker has taken the task, and its work has not
# yet reported a step of its own (it may still be loading, or find an earlier result to reuse).
# States show in the order queued, starting, running, then done, failed or cancelled, never back.
STARTING = "starting"
STARTING_STAGE = "Starting"  # the stage a task reports before its work begins


@dataclass
class LiveState:
    """What the interface shows for one task right now."""

    status: str
    percent: float | None = None
    stage: str | None = None
    position: int | None = None  # 1-based place in its queue while waiting
    waiting_for: str | None = None
    seconds_left: float | None = None  # the worker's steady estimate (webapp/timeleft.py), run down to now


def live_states(tasks: list[Task]) -> dict[int, LiveState]:
    """Merge the durable row state with the volatile RQ state (queue place, progress).

    Without Redis the rows alone are shown, and queue_unavailable() tells the page to say so."""
    states = {t.id: LiveState(t.status) for t in tasks}
    try:
        _add_live_states(tasks, states)
    except redis.RedisError as error:
        left_out_live_figures(error)
        states = {t.id: LiveState(t.status) for t in tasks}  # not half merged
    return states


def left_out_live_figures(error: redis.RedisError) -> None:
    """Note that this request rendered without what Redis knows (queue places, progress, workers)."""
    log.warning("live figures left out: Redis does not answer (%s)", error)
    g.queue_unavailable = True


def queue_unavailable() -> bool:
    """Whether this request found Redis away: its page then says that live figures are missing."""
    return g.get("queue_unavailable", False)


def _add_live_states(tasks: list[Task], states: dict[int, LiveState]) -> None:
    active = [t for t in tasks if t.status in Task.ACTIVE and t.rq_job_id]
    if not active:
        return
    conn = redis_conn()
    jobs = Job.fetch_many([t.rq_job_id for t in active], connection=conn)
    for task, job in zip(active, jobs, strict=True):
        state = states[task.id]
        if job is None:
            continue
        status = job.get_status(refresh=False)
        progress = job.meta.get("progress") or {}
        if status == JobStatus.STARTED or task.status == Task.RUNNING:
            if progress.get("stage", STARTING_STAGE) == STARTING_STAGE:
                state.status = STARTING
                continue
            state.status = Task.RUNNING
            state.percent, state.stage = progress["percent"], progress["stage"]
            if progress.get("time_left"):
                state.seconds_left = Clock(**progress["time_left"]).left(time.time())
        elif status == JobStatus.DEFERRED:
            waiting = [t for t in tasks if t.rq_job_id in (job.dependency_ids or [])]
            state.waiting_for = ", ".join(KINDS[t.kind].label for t in waiting) or None
        elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
            position = get_queue(task.queue).get_job_position(job)
            state.position = None if position is None else position + 1


def cancel_flag(job_id: str) -> str:
    """The Redis key that tells a running job to stop at its next progress report."""
    return f"cutroom:cancel:{job_id}"


def cancel_jobs(tasks: list[Task], reason: str | None = None) -> None:
    """Stop the RQ jobs of these tasks: queued ones are cancelled, running ones stopped.

    A forked work horse is killed (with its ffmpeg); a job in a non-forking worker
    (transcription) sees the cancel flag at its next progress report and stops itself.
    """
    conn = redis_conn()
    for task in tasks:
        if task.status not in Task.ACTIVE or not task.rq_job_id:
            continue
        task.status, task.error = Task.CANCELLED, reason
        conn.set(cancel_flag(task.rq_job_id), 1, ex=FAILURE_TTL)
        try:
            job = Job.fetch(task.rq_job_id, connection=conn)
            if job.get_status() == JobStatus.STARTED:
                send_stop_job_command(conn, job.id)
            else:
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass


def dependants(task: Task) -> list[Task]:
    """Every task of the same item that waits, directly or not, for `task`."""
    found, frontier = [], {task.id}
    while frontier:
        step = [t for t in task.item.tasks if frontier & set(t.after or []) and t not in found]
        found += step
        frontier = {t.id for t in step}
    return found
