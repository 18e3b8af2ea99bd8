"""Run an RQ worker inside the app context for the queues named on the command line.

python worker.py media transcribe mail        # all queues
python worker.py --burst media                # drain the queue, then exit
"""

import argparse
import logging

from rq import SimpleWorker, Worker

from webapp import create_app, db
from webapp.pipeline import QUEUES, get_queue, redis_conn

# Seconds between a worker's maintenance rounds (RQ's registry cleanup, lost tasks): short, since a
# task whose worker died waits for the next round, and a round costs a few Redis and DB reads.
MAINTENANCE_INTERVAL = 60


class RecoveringMixin:
    """Worker maintenance (at start and every MAINTENANCE_INTERVAL) also recovers tasks whose
    worker died: RQ alone would leave their rows "running" until its own slow cleanup."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        from webapp.tasks import recover_lost_tasks

        try:
            recover_lost_tasks()
        finally:
            db.session.remove()


class ForkingWorker(RecoveringMixin, Worker):
    """RQ's default worker (a forked work horse per job), made safe for a shared SQLAlchemy engine."""

    def main_work_horse(self, job, queue):
        # The work horse is a fork: drop the parent's pooled connections without closing
        # them, so parent and child never share a database socket.
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class RecoveringSimpleWorker(RecoveringMixin, SimpleWorker):
    pass


def worker_class(queues: list[str]) -> type[Worker]:
    """Transcription runs in the worker process itself, so the model it loaded once serves every
    job (a fork per job would load it per job, and CTranslate2's threads do not survive a fork).
    Everything else gets a fork per job, which a stop command or a timeout can kill cleanly."""
    return RecoveringSimpleWorker if "transcribe" in queues else ForkingWorker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queues", nargs="+", choices=QUEUES, help="queues to work on, in priority order")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    parser.add_argument("--name", help="worker name (default: host and pid)")
    args = parser.parse_args()

    app = create_app()
    with app.app_context():
        from webapp import tasks

        tasks.preload(args.queues)
        worker = worker_class(args.queues)(
            [get_queue(name) for name in args.queues],
            connection=redis_conn(),
            name=args.name,
            maintenance_interval=MAINTENANCE_INTERVAL,
            # How often a forking worker's heartbeat says it still watches its running job.
            job_monitoring_interval=max(1, app.config["TASK_LEASE_SECONDS"] // 3),
        )
        # The scheduler runs retries with intervals (mail) and scheduled jobs.
        worker.work(burst=args.burst, with_scheduler=True, logging_level=logging.INFO)


if __name__ == "__main__":
    main()
