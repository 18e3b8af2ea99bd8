"""Housekeeping: files past their retention, files or rows left behind, webhook deliveries lost or old.

`run_maintenance` is the RQ job that clock.py enqueues every MAINTENANCE_INTERVAL seconds;
`flask cleanup` runs its cleanup step by hand. Both are safe to run twice at once: a step removes
only what is due or left behind, and takes "already gone" as done. Neither touches an item with a
queued or running task, and cleanup leaves alone anything on disk changed in the last STALE_AFTER
seconds (an upload or a job may be writing it before its row is committed).
"""

import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from webapp import db
from webapp.helpers import filesize, plural
from webapp.kinds import KINDS
from webapp.models import Item, MediaFile, Task, TusUpload, User, utcnow
from webapp.pipeline import FAILURE_TTL
from webapp.retention import retention
from webapp.storage import SOUND_PREFIX, item_dir, user_dir
from webapp.tasks.recovery import recover_lost_tasks
from webapp.tus import expire_uploads
from webapp.webhooks.delivery import forget_old_deliveries, resend_overdue

log = logging.getLogger(__name__)

# Longer than any job may run: a scratch folder this old belongs to no job that is still alive.
STALE_AFTER = max(kind.timeout for kind in KINDS.values()) + 3600
MAINTENANCE_TIMEOUT = 30 * 60
MISSING = "missing file"


def run_maintenance() -> dict:
    """RQ job: the housekeeping steps, in order. Returns what each step did (shown in rq-dashboard)."""
    try:
        done = {}
        # 1. Tasks whose worker died (workers look too, as they start and every few seconds).
        done["lost tasks"] = f"{recover_lost_tasks()} found"
        # 2. Results (and, if so configured, originals) whose retention has run out.
        done["retention"] = expire_old_files().summary()
        # 3. Resumable uploads nobody sent to for TUS_EXPIRY_HOURS, with the space they held.
        done["abandoned uploads"] = f"{expire_uploads()} removed"
        # 4. Files without rows, rows without files, stale temp files.
        done["cleanup"] = cleanup().summary()
        # 5. Webhook deliveries whose job was lost, and those finished long ago (the log's end).
        done["webhooks"] = (
            f"{plural(resend_overdue(), 'overdue delivery', 'overdue deliveries')} queued again, "
            f"{plural(forget_old_deliveries(), 'old delivery', 'old deliveries')} forgotten"
        )
        for step, summary in done.items():
            log.info("maintenance, %s: %s", step, summary)
        return done
    finally:
        # A non-forking worker reuses this session for the next job: leave it clean.
        db.session.remove()


def schedule(scheduler) -> None:
    """Register the maintenance job on an rq.cron.CronScheduler (what clock.py runs)."""
    scheduler.register(
        run_maintenance,
        "media",
        interval=current_app.config["MAINTENANCE_INTERVAL"],
        job_timeout=MAINTENANCE_TIMEOUT,
        failure_ttl=FAILURE_TTL,
    )


def expire_old_files() -> "Report":
    """Remove the files of every item whose retention has run out, with their rows."""
    report = Report()
    config = current_app.config
    days = [d for d in (config["RETENTION_DAYS"], config["RETENTION_ORIGINALS_DAYS"]) if d]
    if not days:
        return report
    now = utcnow()
    # Only items with a file old enough for the shorter setting; each is then judged as a whole.
    oldest_kept = now - timedelta(days=min(days))
    items = db.session.scalars(sa.select(Item).where(Item.files.any(MediaFile.created_at < oldest_kept)))
    for item in items.all():
        kept = retention(item)
        due = []
        if kept.results_until and kept.results_until <= now:
            due += [f for f in item.files if f.category == "results"]
        if kept.original_until and kept.original_until <= now:
            due += [f for f in item.files if f.category != "results"]
        if due and not _busy(item.id):
            _remove_files(item, due, report)
    return report


def _busy(item_id: str) -> bool:
    """Asked of the database right before removing: a task may have started since the item was read."""
    active = sa.select(Task.id).where(Task.item_id == item_id, Task.status.in_(Task.ACTIVE))
    return db.session.scalar(sa.select(active.exists())) or False


def _remove_files(item: Item, files: list[MediaFile], report: "Report") -> None:
    folder = item_dir(item)
    for f in files:
        (folder / f.name).unlink(missing_ok=True)
        report.add("expired", folder / f.name, f.size)
    # A bulk delete, not session.delete: a row another run removed first is simply not there.
    db.session.execute(sa.delete(MediaFile).where(MediaFile.id.in_([f.id for f in files])))
    db.session.commit()


# --- cleanup -----------------------------------------------------------------------------------


@dataclass
class Report:
    """What a step removed (or, in a dry run, would remove), and the bytes that frees on disk."""

    dry_run: bool = False
    removed: list[tuple[str, str, int]] = field(default_factory=list)  # (reason, what, bytes)

    def add(self, reason: str, what, size: int) -> None:
        self.removed.append((reason, str(what), size))

    @property
    def freed(self) -> int:
        return sum(size for _, _, size in self.removed)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        rows = sum(reason.startswith(MISSING) for reason, _, _ in self.removed)
        files = plural(len(self.removed) - rows, "file or folder", "files or folders")
        text = f"{verb} {files}, freeing {filesize(self.freed)}"
        return text + (f", and {plural(rows, 'row')} whose file was missing" if rows else "")


def cleanup(dry_run: bool = False) -> Report:
    """Remove what is on disk without a row, rows whose file is gone, and stale temp files.

    MEDIA_ROOT/<user id>/<item id>/<file name> is the only layout it knows: anything at the top
    that is not named like a user folder (lost+found, .gitkeep, ...) is not ours and is left alone.
    """
    report = Report(dry_run)
    root = Path(current_app.config["MEDIA_ROOT"])
    users = set(db.session.scalars(sa.select(User.id)))
    owners = dict(db.session.execute(sa.select(Item.id, Item.user_id)).all())
    # A resumable upload's folder has no item yet, and may pause for longer than STALE_AFTER.
    arriving = set(db.session.scalars(sa.select(TusUpload.item_id)))
    busy = set(db.session.scalars(sa.select(Task.item_id).where(Task.status.in_(Task.ACTIVE))))
    rows: dict[str, list] = {}
    for row in db.session.execute(sa.select(MediaFile.id, MediaFile.item_id, MediaFile.name, MediaFile.size)):
        rows.setdefault(row.item_id, []).append(row)

    for user_folder in _entries(root):
        if not (user_folder.name.isdigit() and user_folder.is_dir()):
            continue
        if int(user_folder.name) not in users:
            _remove_stale(user_folder, "deleted account", report)
            continue
        for folder in _entries(user_folder):
            if folder.name in arriving:
                continue
            if owners.get(folder.name) != int(user_folder.name):
                _remove_stale(folder, "deleted item", report)
            elif folder.name not in busy:
                names = {row.name for row in rows.get(folder.name, [])}
                for path in _entries(folder):
                    if path.name.startswith((".work-", ".upload-", SOUND_PREFIX)):
                        _remove_stale(path, "stale temp", report)
                    elif path.name not in names:
                        _remove_stale(path, "no row", report)

    missing = []
    for item_id, item_rows in rows.items():
        # No user folder at all looks like a volume that is not mounted, not like lost files.
        folder = user_dir(owners[item_id]) / item_id
        if item_id in busy or not folder.parent.is_dir():
            continue
        for row in item_rows:
            if not (folder / row.name).exists():
                missing.append(row.id)
                report.add(f"{MISSING}, row of {filesize(row.size)}", folder / row.name, 0)
    if missing and not dry_run:
        db.session.execute(sa.delete(MediaFile).where(MediaFile.id.in_(missing)))
        db.session.commit()
    return report


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):  # removed meanwhile, e.g. by a run beside this one
        return []


def _remove_stale(path: Path, reason: str, report: Report) -> None:
    """Remove `path` (a file or a whole folder) unless anything in it changed in the last STALE_AFTER."""
    newest, size = _newest_change_and_size(path)
    if newest is None or time.time() - newest < STALE_AFTER:
        return
    report.add(reason, path, size)
    if report.dry_run:
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _newest_change_and_size(path: Path) -> tuple[float | None, int]:
    """The latest mtime of `path` and of everything in it, and the bytes of its files."""
    paths = [path]
    if path.is_dir():
        for top, dirs, files in os.walk(path):
            paths += [Path(top, name) for name in dirs + files]
    newest, size = None, 0
    for p in paths:
        try:
            info = p.lstat()
        except FileNotFoundError:
            continue
        newest = max(newest or 0.0, info.st_mtime)
        size += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return newest, size
