"""Settings read from the environment; defaults make a first laptop run work offline."""

import os
import secrets
from pathlib import Path

GiB = 1024**3


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if not value else int(value)


def _days(name: str, default: int) -> int:
    """A number of days, where 0 or an empty value means "keep forever"."""
    value = os.environ.get(name)
    return default if value is None else int(value or 0)


def _seconds_list(name: str, default: str) -> list[float]:
    return [float(part) for part in (os.environ.get(name) or default).split(",") if part.strip()]


def _upload_slots(threads: int) -> int:
    return max(1, threads - min(8, threads // 2))


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder.

    A fixed key is what keeps sessions and emailed links valid across restarts.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = instance_path / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def database_url(instance_path: Path) -> str:
    """DATABASE_URL, with plain postgres:// URLs pointed at the psycopg 3 driver we install."""
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'cutroom.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(instance_path: Path) -> dict:
    """The app's configuration as a dict, every value overridable by an environment variable."""
    mail_server = os.environ.get("MAIL_SERVER", "")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        "REDIS_URL": redis_url,
        # Short-lived figures (the stats page) are cached in the Redis the queues use (create_app
        # adds the client options).
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": "cutroom:cache:",
        "CACHE_DEFAULT_TIMEOUT": 5,
        # rq-dashboard (/admin/rq) shows the queues of the same Redis.
        "RQ_DASHBOARD_REDIS_URL": redis_url,
        "MEDIA_ROOT": os.path.abspath(os.environ.get("MEDIA_ROOT", "media")),
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int("MAIL_PORT", 587 if _bool("MAIL_USE_TLS") else 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "Cutroom <cutroom@localhost>"),
        "MAIL_OUTBOX": os.environ.get("MAIL_OUTBOX") or str(instance_path / "outbox"),
        "DEFAULT_QUOTA": _int("DEFAULT_QUOTA", 5 * GiB),
        "MAX_UPLOAD_SIZE": _int("MAX_UPLOAD_SIZE", 4 * GiB),
        # Seconds a request body may stop arriving before its request is dropped (under gunicorn).
        "BODY_TIMEOUT": _int("BODY_TIMEOUT", 20),
        # Uploads one web process streams at once (503 beyond), so that some of its threads always
        # serve pages: by default all but 8 (or half) of gunicorn's WEB_THREADS (gunicorn.conf.py).
        "UPLOAD_SLOTS": _int("UPLOAD_SLOTS", _upload_slots(_int("WEB_THREADS", 32))),
        # Everything but the upload form is small; the upload endpoint raises its own limit.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # Hours a resumable (tus) upload may pause before it counts as abandoned: the maintenance
        # job then removes its partial file and gives back the space it held.
        "TUS_EXPIRY_HOURS": _int("TUS_EXPIRY_HOURS", 24),
        # Space on the media volume that uploads and jobs must leave free (bytes).
        "MIN_FREE_DISK": _int("MIN_FREE_DISK", GiB),
        # An item's results are removed this many days after they were last made; its original
        # (with its previews) only if RETENTION_ORIGINALS_DAYS is set. 0 or empty: keep forever.
        "RETENTION_DAYS": _days("RETENTION_DAYS", 30),
        "RETENTION_ORIGINALS_DAYS": _days("RETENTION_ORIGINALS_DAYS", 0),
        # How often clock.py enqueues the maintenance job (retention and cleanup), in seconds.
        "MAINTENANCE_INTERVAL": _int("MAINTENANCE_INTERVAL", 3600),
        "TRANSCRIBE_MODEL": os.environ.get("TRANSCRIBE_MODEL", ""),
        # Where people reach the site, e.g. https://cutroom.example.org: links in mails are built
        # from it, never from a request's Host header. `make run` sets it; gunicorn refuses to start
        # without it (gunicorn.conf.py).
        "EXTERNAL_URL": os.environ.get("EXTERNAL_URL", "").strip(),
        # Host names this site answers to; requests naming another host are refused.
        "TRUSTED_HOSTS": [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
        or None,
        # Number of reverse proxies in front whose X-Forwarded-* headers are trusted.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Tokens in forms outlive a long upload; the session binds them anyway.
        "WTF_CSRF_TIME_LIMIT": None,
        # A running task renews a Redis key that lives this many seconds (and a forking worker sends
        # heartbeats as often); once both stop, the task's worker is taken for dead and the task
        # is queued again (webapp.tasks.recovery.recover_lost_tasks).
        "TASK_LEASE_SECONDS": _int("TASK_LEASE_SECONDS", 30),
        # Requests one API token may make per minute; beyond, 429 with Retry-After.
        "API_RATE_LIMIT": _int("API_RATE_LIMIT", 300),
        # Webhooks (webapp/webhooks/): receivers on loopback, private or other non-public addresses
        # are refused unless this is set (a receiver on the operator's own network, and the tests).
        "WEBHOOK_ALLOW_PRIVATE": _bool("WEBHOOK_ALLOW_PRIVATE"),
        # Seconds a receiver may take to accept the connection, and then to answer each read.
        "WEBHOOK_TIMEOUT": float(os.environ.get("WEBHOOK_TIMEOUT") or 10),
        # Seconds between a delivery's attempts after a failure: 5 s, 5 min, 30 min, 2 h, 5 h, 8 h,
        # 8 h, so the last of its 8 attempts comes about a day after the first.
        "WEBHOOK_RETRY_DELAYS": _seconds_list("WEBHOOK_RETRY_DELAYS", "5,300,1800,7200,18000,28800,28800"),
        # A throttle on how often a worker writes progress to Redis.
        "PROGRESS_INTERVAL": float(os.environ.get("PROGRESS_INTERVAL", "0.25")),
    }
