"""How long an item's files are kept: what the item page says, and what the maintenance job
(webapp/maintenance.py, worker side) removes when the time is up."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from webapp.models import Item, Task


@dataclass
class Retention:
    """How long an item's files are kept: dates are None when kept for good (or already gone)."""

    results_until: datetime | None
    original_until: datetime | None
    results_removed: bool  # it had results, and retention removed them
    original_removed: bool


def retention(item: Item) -> Retention:
    """The retention of `item`'s files: what the item page says, and what the maintenance job does."""
    config = current_app.config
    results = [f for f in item.files if f.category == "results"]
    original = item.file("original")
    last_made = max((f.created_at for f in results), default=None)
    made_any = any(t.status == Task.DONE and t.kind != "prepare" for t in item.tasks)
    return Retention(
        results_until=_plus_days(last_made, config["RETENTION_DAYS"]),
        original_until=_plus_days(original and original.created_at, config["RETENTION_ORIGINALS_DAYS"]),
        results_removed=made_any and not results and not item.busy,
        original_removed=original is None,
    )


def _plus_days(start: datetime | None, days: int) -> datetime | None:
    return start + timedelta(days=days) if start and days else None
