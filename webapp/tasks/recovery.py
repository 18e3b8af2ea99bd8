"""Lost tasks: their worker died (SIGKILL, out of memory, machine gone), or their job vanished
from Redis before it ran. Each is queued again once, or failed with a reason the person reads."""

import logging
import shutil
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import now

from webapp import db
from webapp.models import Task, utcnow
from webapp.pipeline import FAILURE_TTL, REDIS_RETRY_CAP, redis_conn
from webapp.storage import item_dir
from webapp.tasks.outputs import scratch_prefix
from webapp.tasks.run import lease_key, record_failure

log = logging.getLogger(__name__)

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
        lost = [task for task in running if is_lost(task, conn)]
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
                record_failure(task, QUEUE_LOST_REASON)
                lost.append(task)
        # Its job failed before the task was marked running, and could not record it then.
        for task in queued:
            if task.status == Task.QUEUED and _job_ended(task, conn):
                record_failure(task, JOB_FAILED_REASON)
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


def is_lost(task: Task, conn) -> bool:
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
    for scratch in item_dir(task.item).glob(scratch_prefix(task) + "*"):
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
        record_failure(task, LOST_REASON)
