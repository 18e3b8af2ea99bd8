"""Fixed-window rate limits kept in Redis, so every web process shares them.

A `Limit` names one rule; callers hold tuples of them (a per-minute and a per-day limit, say). An
event that always counts is let through by `take`, which counts and checks in one step, so requests
arriving together cannot all pass a check made before any of them is counted. Events that count only
by how they end (a wrong password) ask `wait_for` before and `count` after.

While Redis does not answer nothing is counted, so logging in keeps working through an outage
(unthrottled for its length) instead of failing for everyone.
"""

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from webapp.pipeline import redis_conn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `limit` events per `window` seconds for one subject (an account, an address)."""

    name: str
    limit: int
    window: int


@contextmanager
def _unless_redis_is_away():
    try:
        yield
    except redis.RedisError as error:
        log.warning("rate limits not counted: Redis does not answer (%s)", error)


def _key(name: str, subject: str) -> str:
    return f"cutroom:rl:{name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


def retry_after(name: str, subject: str, limit: int) -> int:
    """Seconds until `subject` may try again, or 0 when it is under `limit` in this window."""
    conn = redis_conn()
    key = _key(name, subject)
    with _unless_redis_is_away():
        count = int(conn.get(key) or 0)
        return max(int(conn.ttl(key)), 1) if count >= limit else 0
    return 0


def hit(name: str, subject: str, window: int) -> None:
    """Count one event for `subject`; the window starts at its first event."""
    key = _key(name, subject)
    pipe = redis_conn().pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    with _unless_redis_is_away():
        pipe.execute()


def reset(name: str, subject: str) -> None:
    with _unless_redis_is_away():
        redis_conn().delete(_key(name, subject))


def wait_for(limits: tuple[Limit, ...], subject: str) -> int:
    """Seconds until `subject` is under every limit again; 0 when it is now."""
    return max(retry_after(lim.name, subject, lim.limit) for lim in limits)


def take(limits: tuple[Limit, ...], subject: str) -> int:
    """Count one event for `subject` and return 0 when it is within every limit, else the seconds until
    it would be. Refused events count too: the window still ends when it would have."""
    pipe = redis_conn().pipeline()
    for lim in limits:
        key = _key(lim.name, subject)
        pipe.incr(key)
        pipe.expire(key, lim.window, nx=True)
        pipe.ttl(key)
    with _unless_redis_is_away():
        answers = pipe.execute()
        counts, ttls = answers[0::3], answers[2::3]
        return max(
            (max(ttl, 1) for lim, n, ttl in zip(limits, counts, ttls, strict=True) if n > lim.limit),
            default=0,
        )
    return 0


def count(limits: tuple[Limit, ...], subject: str) -> None:
    for lim in limits:
        hit(lim.name, subject, lim.window)


def forget(limits: tuple[Limit, ...], subject: str) -> None:
    """Clear the counts of `subject` under every limit."""
    for lim in limits:
        reset(lim.name, subject)
