"""What a running task reports into `job.meta` for the pages to read, and how it learns it was cancelled."""

import time
from dataclasses import asdict

from flask import current_app

from webapp.pipeline import cancel_flag
from webapp.timeleft import TimeLeft


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
