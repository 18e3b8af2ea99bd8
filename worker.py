"""Run an RQ worker inside the app context for the queues named on the command line.

python worker.py media transcribe mail        # all queues
python worker.py --burst media                # drain the queue, then exit
"""

import argparse
import logging

from rq import SimpleWorker, Worker

from webapp import create_app, db
from webapp.pipeline import QUEUES, get_queue, redis_conn


class ForkingWorker(Worker):
    """RQ's default worker (a forked work horse per job), made safe for a shared SQLAlchemy engine."""

    def main_work_horse(self, job, queue):
        # The work horse is a fork: drop the parent's pooled connections without closing
        # them, so parent and child never share a database socket.
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def worker_class(queues: list[str]) -> type[Worker]:
    """Transcription runs in the worker process itself, so the model it loaded once serves every
    job (a fork per job would load it per job, and CTranslate2's threads do not survive a fork).
    Everything else gets a fork per job, which a stop command or a timeout can kill cleanly."""
    return SimpleWorker if "transcribe" in queues else ForkingWorker


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
            [get_queue(name) for name in args.queues], connection=redis_conn(), name=args.name
        )
        # The scheduler runs retries with intervals (mail) and scheduled jobs.
        worker.work(burst=args.burst, with_scheduler=True, logging_level=logging.INFO)


if __name__ == "__main__":
    main()
