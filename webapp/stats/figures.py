"""The figures behind /stats: queues and workers from Redis, jobs, timings and volumes from the rows.

Percentiles are computed in Python from the rows, so the same code serves SQLite and
PostgreSQL. Everything is cached in Redis for a few seconds: a page left open by several
people, or reloaded, costs the database one round of queries per timeout.
"""

import contextlib
import math
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app
from rq import Worker
from rq.job import Job

from webapp import cache, db
from webapp.kinds import KINDS
from webapp.models import Item, MediaFile, Task, User, utcnow
from webapp.pipeline import get_queue, left_out_live_figures
from webapp.queues import EVERY_QUEUE

DAY = timedelta(hours=24)
TIMING_WINDOW = timedelta(days=7)
CHART_HOURS = 48

SERVICE_KEY = "stats:service"
USERS_KEY = "stats:users"


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` quantile with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class WorkerFigures:
    name: str
    hostname: str
    state: str
    job_id: str | None


@dataclass
class QueueFigures:
    name: str
    length: int
    oldest_wait: float | None  # seconds the job at the head of the queue has been waiting
    deferred: int
    running: int
    workers: list[WorkerFigures]

    @property
    def busy_workers(self) -> int:
        return sum(w.state == "busy" for w in self.workers)


@dataclass
class KindFigures:
    kind: str
    done_24h: int = 0
    failed_24h: int = 0
    reused_24h: int = 0  # of those done, how many took an identical earlier result
    waits: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)
    speeds: list[float] = field(default_factory=list)
    media_seconds: float = 0.0

    @property
    def wait_median(self) -> float | None:
        return percentile(self.waits, 0.5)

    @property
    def wait_p95(self) -> float | None:
        return percentile(self.waits, 0.95)

    @property
    def run_median(self) -> float | None:
        return percentile(self.runs, 0.5)

    @property
    def run_p95(self) -> float | None:
        return percentile(self.runs, 0.95)

    @property
    def speed_median(self) -> float | None:
        return percentile(self.speeds, 0.5)


@dataclass
class HourFigures:
    start: datetime
    done: int = 0
    failed: int = 0


@dataclass
class StorageFigures:
    files_bytes: int
    disk_total: int
    disk_used: int
    disk_free: int


@dataclass
class ServiceFigures:
    computed_at: datetime
    queues: list[QueueFigures] | None  # None: Redis did not answer
    kinds: list[KindFigures]
    hours: list[HourFigures]
    silence_removed_seconds: float
    storage: StorageFigures

    @property
    def done_24h(self) -> int:
        return sum(k.done_24h for k in self.kinds)

    @property
    def failed_24h(self) -> int:
        return sum(k.failed_24h for k in self.kinds)

    @property
    def reused_24h(self) -> int:
        return sum(k.reused_24h for k in self.kinds)

    @property
    def media_seconds(self) -> float:
        return sum(k.media_seconds for k in self.kinds)


@dataclass
class UserFigures:
    email: str
    items: int
    used_bytes: int
    jobs_24h: int


def cached(key: str, compute):
    """The value cached under `key`, computed and stored for CACHE_DEFAULT_TIMEOUT when missing
    (computed every time while Redis, which holds the cache, does not answer)."""
    try:
        value = cache.get(key)
    except redis.RedisError:
        return compute()
    if value is None:
        value = compute()
        with contextlib.suppress(redis.RedisError):
            cache.set(key, value)
    return value


def service_figures() -> ServiceFigures:
    return cached(SERVICE_KEY, compute_service_figures)


def user_figures() -> list[UserFigures]:
    return cached(USERS_KEY, compute_user_figures)


def compute_service_figures(now: datetime | None = None) -> ServiceFigures:
    now = now or utcnow()
    return ServiceFigures(
        computed_at=now,
        queues=queue_figures(now),
        kinds=kind_figures(now),
        hours=hourly_jobs(now),
        silence_removed_seconds=silence_removed_seconds(),
        storage=storage_figures(),
    )


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def queue_figures(now: datetime) -> list[QueueFigures] | None:
    """Per queue: jobs waiting, how long the first has waited, jobs deferred and running, workers.
    None while Redis does not answer."""
    try:
        return _queue_figures(now)
    except redis.RedisError as error:
        left_out_live_figures(error)
        return None


def _queue_figures(now: datetime) -> list[QueueFigures]:
    found = []
    for name in EVERY_QUEUE:
        queue = get_queue(name)
        oldest_wait = None
        # Jobs leave a queue in order, so the head is the one that has waited longest.
        head = queue.get_job_ids(0, 1)
        if head:
            job = Job.fetch_many(head, connection=queue.connection)[0]
            if job is not None and job.enqueued_at:
                oldest_wait = max(0.0, (now - _naive_utc(job.enqueued_at)).total_seconds())
        workers = [
            WorkerFigures(w.name, w.hostname or "", str(w.get_state()), w.get_current_job_id())
            for w in Worker.all(queue=queue)
        ]
        found.append(
            QueueFigures(
                name=name,
                length=queue.count,
                oldest_wait=oldest_wait,
                # Counted without RQ's registry cleanup: a page view should not move jobs around.
                deferred=queue.deferred_job_registry.get_job_count(cleanup=False),
                running=queue.started_job_registry.get_job_count(cleanup=False),
                workers=sorted(workers, key=lambda w: w.name),
            )
        )
    return found


def kind_figures(now: datetime) -> list[KindFigures]:
    """Per job kind: counts for the last 24 h; waits, run times and speed for the last 7 days;
    hours of media processed ever."""
    kinds = {kind: KindFigures(kind) for kind in KINDS}
    since = now - TIMING_WINDOW
    rows = db.session.execute(
        sa.select(
            Task.kind,
            Task.status,
            Task.started_at,
            Task.finished_at,
            Task.wait_seconds,
            Task.run_seconds,
            Task.realtime_factor,
            Task.reused_from,
        ).where(sa.or_(Task.started_at >= since, Task.finished_at >= since))
    )
    for kind, status, started_at, finished_at, wait, run, speed, reused_from in rows:
        figures = kinds.setdefault(kind, KindFigures(kind))
        if started_at and started_at >= since and wait is not None:
            figures.waits.append(wait)
        if finished_at and finished_at >= now - DAY:
            figures.done_24h += status == Task.DONE
            figures.failed_24h += status == Task.FAILED
            figures.reused_24h += status == Task.DONE and reused_from is not None
        # A reused result took no processing: it would make run times look shorter than they are.
        if status == Task.DONE and finished_at and finished_at >= since and reused_from is None:
            if run is not None:
                figures.runs.append(run)
            if speed is not None:
                figures.speeds.append(speed)

    processed = db.session.execute(
        sa.select(Task.kind, sa.func.sum(Item.duration))
        .join(Item, Task.item_id == Item.id)
        .where(Task.status == Task.DONE, Task.reused_from.is_(None))
        .group_by(Task.kind)
    )
    for kind, seconds in processed:
        kinds.setdefault(kind, KindFigures(kind)).media_seconds = float(seconds or 0)
    return list(kinds.values())


def hour_start(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def hourly_jobs(now: datetime, hours: int = CHART_HOURS) -> list[HourFigures]:
    """Jobs done and failed in each of the last `hours` clock hours, the current one last."""
    first = hour_start(now) - timedelta(hours=hours - 1)
    buckets = [HourFigures(first + timedelta(hours=i)) for i in range(hours)]
    rows = db.session.execute(
        sa.select(Task.status, Task.finished_at).where(
            Task.finished_at >= first, Task.status.in_([Task.DONE, Task.FAILED])
        )
    )
    for status, finished_at in rows:
        index = int((hour_start(finished_at) - first).total_seconds() // 3600)
        if 0 <= index < hours:
            bucket = buckets[index]
            if status == Task.DONE:
                bucket.done += 1
            else:
                bucket.failed += 1
    return buckets


def silence_removed_seconds() -> float:
    """Seconds of pause cut out by every finished silence removal (a reused result cut nothing)."""
    total = db.session.scalar(
        sa.select(sa.func.sum(Task.result["removed_seconds"].as_float())).where(
            Task.kind == "silence", Task.status == Task.DONE, Task.reused_from.is_(None)
        )
    )
    return float(total or 0)


def storage_figures() -> StorageFigures:
    """Bytes of every stored file against the disk that holds MEDIA_ROOT."""
    files = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(MediaFile.size), 0)))
    disk = shutil.disk_usage(current_app.config["MEDIA_ROOT"])
    return StorageFigures(int(files), disk.total, disk.used, disk.free)


def _per_user(statement) -> dict:
    return {user_id: value for user_id, value in db.session.execute(statement)}


def compute_user_figures(now: datetime | None = None) -> list[UserFigures]:
    """Per user, largest first: items, bytes stored and jobs finished in the last 24 h."""
    now = now or utcnow()
    items = _per_user(sa.select(Item.user_id, sa.func.count(Item.id)).group_by(Item.user_id))
    used = _per_user(
        sa.select(Item.user_id, sa.func.sum(MediaFile.size))
        .join(MediaFile, MediaFile.item_id == Item.id)
        .group_by(Item.user_id)
    )
    jobs = _per_user(
        sa.select(Item.user_id, sa.func.count(Task.id))
        .join(Task, Task.item_id == Item.id)
        .where(Task.finished_at >= now - DAY)
        .group_by(Item.user_id)
    )
    rows = [
        UserFigures(email, items.get(uid, 0), int(used.get(uid) or 0), jobs.get(uid, 0))
        for uid, email in db.session.execute(sa.select(User.id, User.email))
    ]
    return sorted(rows, key=lambda u: (-u.used_bytes, u.email))
