"""Run an RQ worker inside the app context for the queues named on the command line.

python worker.py media transcribe mail        # all queues (each one's short lane first)
python worker.py media-short                  # only short recordings' media work
python worker.py --burst media                # drain the queue, then exit
"""

import argparse
import contextlib
import logging
import os
import signal
import threading
import time

from flask import Flask
from rq import SimpleWorker, Worker

from webapp import create_app, db
from webapp.pipeline import get_queue, redis_conn
from webapp.queues import EVERY_QUEUE, is_long_lane, queue_of, served

log = logging.getLogger(__name__)

# Seconds between a worker's rounds of RQ's own upkeep (cleaning its job registries, checking its
# scheduler): RQ's `maintenance_interval`, not Cutroom's maintenance job (MAINTENANCE_INTERVAL, clock.py).
REGISTRY_CLEANUP_SECONDS = 60
# At most this many seconds pass between two looks for lost tasks, so a task whose worker died is
# queued again (or failed) at most TASK_LEASE_SECONDS + SWEEP_SECONDS after its death.
SWEEP_SECONDS = 5
# LONG_JOB_NICENESS: the CPU priority (nice) of a job from a long lane, and of the ffmpeg it starts:
# short work beside it gets the cores first, while a long job alone still gets them all (README:
# Processes). 0 leaves it as the worker's.
LONG_JOB_NICENESS = int(os.environ.get("LONG_JOB_NICENESS") or 10)


class ForkingWorker(Worker):
    """RQ's default worker (a forked work horse per job), made safe for a shared SQLAlchemy engine,
    and quick to act when its horse is killed."""

    _dead_horse_job = None

    def main_work_horse(self, job, queue):
        # The work horse is a fork: drop the parent's pooled connections without closing
        # them, so parent and child never share a database socket.
        db.engine.dispose(close=False)
        if is_long_lane(queue.name) and LONG_JOB_NICENESS:
            os.nice(LONG_JOB_NICENESS)
        return super().main_work_horse(job, queue)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        # RQ starts the horse in a process group of its own, and what the job started (ffmpeg)
        # is in it too: without its horse nobody waits for it, so it goes now.
        if retpid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(retpid, signal.SIGKILL)
        self._dead_horse_job = job.id
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)

    def monitor_work_horse(self, job, queue):
        super().monitor_work_horse(job, queue)
        if self._dead_horse_job == job.id:
            # RQ has recorded the failure; the task is queued again (or failed) now, not when
            # the dead horse's lease runs out.
            from webapp.tasks.recovery import recover_dead_horse_task

            self._dead_horse_job = None
            try:
                recover_dead_horse_task(job.id)
            finally:
                db.session.remove()


def worker_class(queues: list[str]) -> type[Worker]:
    """Transcription runs in the worker process itself, so the model it loaded once serves every
    job (a fork per job would load it per job, and CTranslate2's threads do not survive a fork),
    and so do the other jobs of a worker that serves it too. Everything else gets a fork per job,
    which a stop command or a timeout can kill cleanly."""
    return SimpleWorker if "transcribe" in {queue_of(name) for name in queues} else ForkingWorker


def sweep_lost_tasks(app: Flask, interval: float) -> None:
    """Look for tasks whose worker died every `interval` seconds, in a thread of its own (the main
    thread is waiting for a job or running one). Every worker does it, so it goes on while any is
    alive; a Redis key lets only the first in each interval do the work."""
    from webapp.tasks.recovery import recover_lost_tasks

    while True:
        time.sleep(interval)
        with app.app_context():
            try:
                if redis_conn().set("cutroom:recover-due", 1, nx=True, px=int(interval * 1000)):
                    recover_lost_tasks()
            except Exception:
                log.exception("looking for lost tasks failed; trying again in %g s", interval)
            finally:
                db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queues", nargs="+", choices=EVERY_QUEUE, help="queues to work on, in priority order")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    parser.add_argument("--name", help="worker name (default: host and pid)")
    args = parser.parse_args()
    queues = served(args.queues)

    app = create_app({"WAIT_FOR_REDIS": True})
    with app.app_context():
        from webapp.tasks.recovery import recover_lost_tasks
        from webapp.tasks.run import preload

        lease = app.config["TASK_LEASE_SECONDS"]
        recover_lost_tasks()  # before the first job, also in burst mode
        db.session.remove()
        threading.Thread(
            target=sweep_lost_tasks, args=(app, min(SWEEP_SECONDS, lease / 3)), name="sweep", daemon=True
        ).start()
        preload(queues)
        if worker_class(queues) is SimpleWorker and any(map(is_long_lane, queues)) and LONG_JOB_NICENESS:
            # It runs its jobs in its own process, so it cannot lower the priority of the long ones
            # alone: all of them run at the long ones' (the short lane's own worker runs the rest).
            os.nice(LONG_JOB_NICENESS)
        worker = worker_class(queues)(
            [get_queue(name) for name in queues],
            connection=redis_conn(),
            name=args.name,
            maintenance_interval=REGISTRY_CLEANUP_SECONDS,
            # How often a forking worker's heartbeat says it still watches its running job.
            job_monitoring_interval=max(1, lease // 3),
        )
        # The scheduler runs retries with intervals (mail) and scheduled jobs.
        worker.work(burst=args.burst, with_scheduler=True, logging_level=logging.INFO)


if __name__ == "__main__":
    main()
