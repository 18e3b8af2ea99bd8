"""Fixed-window rate limits kept in Redis, so every web process shares them."""

import hashlib

from webapp.pipeline import redis_conn


def _key(name: str, subject: str) -> str:
    return f"cutroom:rl:{name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


def retry_after(name: str, subject: str, limit: int) -> int:
    """Seconds until `subject` may try again, or 0 when it is under `limit` in this window."""
    conn = redis_conn()
    key = _key(name, subject)
    count = int(conn.get(key) or 0)
    return max(int(conn.ttl(key)), 1) if count >= limit else 0


def hit(name: str, subject: str, window: int) -> None:
    """Count one event for `subject`; the window starts at its first event."""
    key = _key(name, subject)
    pipe = redis_conn().pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    pipe.execute()


def reset(name: str, subject: str) -> None:
    redis_conn().delete(_key(name, subject))
