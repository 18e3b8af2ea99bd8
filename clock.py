"""Enqueue the maintenance job (retention, cleanup) every MAINTENANCE_INTERVAL seconds, and once at start.

python clock.py

Run one clock per installation (the Procfile's `clock`). A second one only enqueues the job twice
as often, which is harmless: the job is safe to run twice at once.
"""

import logging

from rq.cron import CronScheduler

from webapp import create_app
from webapp.maintenance import schedule
from webapp.pipeline import redis_conn


def main() -> None:
    app = create_app({"WAIT_FOR_REDIS": True})  # rides out a Redis restart
    with app.app_context():
        scheduler = CronScheduler(connection=redis_conn(), logging_level=logging.INFO)
        schedule(scheduler)
        scheduler.start()  # until SIGINT or SIGTERM


if __name__ == "__main__":
    main()
