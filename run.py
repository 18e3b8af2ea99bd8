"""Run Cutroom on one machine: Redis (if none answers), the database, RQ workers, the clock, the web server.

    make run                       # or: .venv/bin/python run.py
    PORT=9000 make run             # another port
    REDIS_URL=redis://host:6379/0 make run

This is the laptop supervisor. It starts every process itself and lets them
write to this terminal. One that exits on its own once everything is up (a
worker killed, the Redis it started gone) is started again after a pause that
doubles from 1 s to 30 s while it keeps failing. On Ctrl-C or SIGTERM it stops
them all in order (exit 0); if one exits during start-up, it stops them all
(exit 1). In production run the Procfile's processes under a real process
manager instead.

It imports only the standard library (and redis-py, through
webapp/localredis.py; the queues and lanes from webapp/queues.py): nothing of the app loads in this process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent
# The app's instance folder (secret key, SQLite database, outbox) and the data of a Redis started here.
INSTANCE = Path(os.environ.get("INSTANCE_PATH") or ROOT / "instance").resolve()
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}

WORKER_GRACE = 10.0  # s: warm shutdown, a running job may finish
HURRY_GRACE = 3.0  # s: after the "hurry" signal, before SIGKILL
WEB_START_TIMEOUT = 60.0  # s: until the web server must accept connections
WORKER_START_TIMEOUT = 20.0  # s: at most, waiting for workers before the banner
RESTART_DELAYS = (1.0, 30.0)  # s: first and longest pause before starting again what exited
STAYED_UP = 60.0  # s: a process up this long that exits is restarted after the shortest pause
POLL = 0.2  # s


def media_workers(env: dict) -> int:
    """How many media workers to start: MEDIA_WORKERS, else one per core and at least two, so one
    long recording's jobs (its preparation and its cut) run beside each other. Raises ValueError."""
    setting = env.get("MEDIA_WORKERS", "").strip()
    if not setting:
        return max(os.cpu_count() or 1, 2)
    count = int(setting)
    if count < 1:
        raise ValueError(setting)
    return count


def worker_names(media: int) -> list[tuple[str, str]]:
    """(process name, queue) of each worker to start: the media ones numbered when there are
    several, and one for each short lane alone, so short work never waits for a long job to end."""
    names = []
    for queue in (*QUEUES, *SHORT_LANES.values()):
        count = media if queue == "media" else 1
        for n in range(1, count + 1):
            names.append((f"worker ({queue} {n})" if count > 1 else f"worker ({queue})", queue))
    return names


def say(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr, flush=True)


def load_by_path(name: str):
    """webapp/<name>.py, loaded by path: `import webapp.<name>` would run webapp/__init__.py and
    load Flask, SQLAlchemy and the whole app here."""
    spec = importlib.util.spec_from_file_location(f"cutroom_{name}", ROOT / "webapp" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


queues = load_by_path("queues")
QUEUES, SHORT_LANES = queues.QUEUES, queues.SHORT_LANES


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def parse_bind(bind: str) -> tuple[str, tuple[str, int] | None]:
    """(URL to show, (host, port) to probe, or None for a unix socket)."""
    if bind.startswith("unix:"):
        return bind, None
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    probe = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    shown = f"[{probe}]" if ":" in probe else probe
    return f"http://{shown}:{port}/", (probe, int(port))


class Supervisor:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.commands: dict[str, list[str]] = {}  # how to start each child again
        self.redis_proc: subprocess.Popen | None = None
        self.redis_start = None  # how to start the Redis started here again
        self.localredis = None
        self.signals = 0  # SIGINT/SIGTERM/SIGHUP received so far
        self.media_workers = 0  # how many media workers run() starts (MEDIA_WORKERS)
        self.started: dict[str, float] = {}  # name -> when it was last started (monotonic)
        self.delays: dict[str, float] = {}  # name -> its last pause before a restart

    # -- signals ------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        # Only count and note it; the main loop acts. os.write, not print: a
        # handler that prints while the main code prints raises "reentrant call".
        self.signals += 1
        if self.signals == 1:
            note = f"got {signal.Signals(signum).name}: stopping everything (Ctrl-C again to hurry)"
        elif self.signals == 2:
            note = "hurrying: jobs in progress are interrupted (Ctrl-C again to kill at once)"
        else:
            note = "killing everything now"
        os.write(2, f"\n[run] {note}\n".encode())

    # -- processes ------------------------------------------------------------

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        # Each child gets its own session, so a Ctrl-C in the terminal reaches
        # only this supervisor, which stops them in order: workers first (they
        # need Redis for a warm shutdown), Redis last.
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.children.append((name, proc))
        self.commands[name] = args
        self.started[name] = time.monotonic()
        return proc

    def exited_child(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return name, proc.returncode
        if self.redis_proc is not None and self.redis_proc.poll() is not None:
            return "redis", self.redis_proc.returncode
        return None

    # -- startup ---------------------------------------------------------------

    def ensure_redis(self, url: str) -> bool:
        self.localredis = load_by_path("localredis")
        if self.localredis.redis_answers(url):
            say(f"Redis: using the one at {redacted(url)}")
            return True
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or 6379
        except ValueError:
            say(f"REDIS_URL={redacted(url)} has an invalid port.")
            return False
        if parts.scheme != "redis" or host not in LOCAL_HOSTS:
            say(
                f"Nothing answers at REDIS_URL={redacted(url)}. Start that Redis, or unset "
                f"REDIS_URL to let `make run` start one on this machine ({DEFAULT_REDIS_URL})."
            )
            return False
        if accepts_connections("127.0.0.1", port):
            say(
                f"Something listens on 127.0.0.1:{port} but does not answer as Redis at "
                f"REDIS_URL={redacted(url)} (wrong password? not Redis?). Fix REDIS_URL, or "
                f"use a free port, e.g. REDIS_URL=redis://127.0.0.1:6390/0 make run"
            )
            return False
        workdir = INSTANCE / "redis"
        say(
            f"Redis: nothing answers at {redacted(url)}; starting one on 127.0.0.1:{port} (data in {workdir})"
        )
        try:
            exe = self.localredis.redis_server_exe()
            self.redis_start = lambda: self.localredis.start_redis(
                port, workdir, persist=True, password=parts.password
            )
            self.redis_proc = self.redis_start()
        except RuntimeError as exc:
            say(str(exc))
            return False
        self.started["redis"] = time.monotonic()
        say(f"Redis: started {exe} (pid {self.redis_proc.pid})")
        return True

    def migrate_db(self) -> bool:
        """Create or upgrade the tables (webapp/schema.py: `flask db upgrade`, after adopting a
        database made before there were migrations)."""
        say("Database: flask --app wsgi db-ready")
        proc = self.spawn("db-ready", [sys.executable, "-m", "flask", "--app", "wsgi", "db-ready"])
        while proc.poll() is None:
            if self.signals:
                return False
            time.sleep(POLL)
        self.children.remove(("db-ready", proc))
        if proc.returncode != 0:
            say(f"db-ready failed (exit code {proc.returncode}); see the messages above.")
            return False
        return True

    def wait_for_web(self, probe: tuple[str, int] | None) -> bool:
        deadline = time.monotonic() + WEB_START_TIMEOUT
        while not self.signals:
            exited = self.exited_child()
            if exited:
                self.report_exit(*exited)
                return False
            if probe is None or accepts_connections(*probe):
                return True
            if time.monotonic() > deadline:
                say(f"the web server did not accept connections within {WEB_START_TIMEOUT:g} s")
                return False
            time.sleep(POLL)
        return False

    def wait_for_workers(self, url: str, timeout: float = WORKER_START_TIMEOUT) -> None:
        """Until every worker has registered in Redis (or *timeout*), so that the
        banner is printed after their start-up messages, not buried under them."""
        import redis  # light; already loaded by localredis

        pids = {proc.pid for name, proc in self.children if name.startswith("worker")}
        client = redis.Redis.from_url(url, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while not self.signals and time.monotonic() < deadline:
                if self.exited_child():
                    return
                # rq:workers is RQ's set of registered worker keys (hashes with a pid).
                pipe = client.pipeline()
                for key in client.smembers("rq:workers"):
                    pipe.hget(key, "pid")
                seen = {int(pid) for pid in pipe.execute() if pid}
                if pids <= seen:
                    time.sleep(0.5)  # their remaining start-up lines
                    return
                time.sleep(POLL)
        except (redis.RedisError, OSError, ValueError):
            return
        finally:
            client.close()

    def report_exit(self, name: str, code: int, then: str = "stopping everything.") -> None:
        how = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        say(f"{name} exited unexpectedly ({how}); {then}")

    def supervise(self) -> None:
        """Until a signal comes: start again, after a pause, whatever exits."""
        due: dict[str, float] = {}  # name -> when to start it again
        while not self.signals:
            for name, proc in [*self.children, ("redis", self.redis_proc)]:
                if proc is None or proc.poll() is None or name in due:
                    continue
                up = time.monotonic() - self.started[name]
                first, longest = RESTART_DELAYS
                delay = first if up >= STAYED_UP else min(self.delays.get(name, first / 2) * 2, longest)
                self.delays[name] = delay
                self.report_exit(name, proc.returncode, f"starting it again in {delay:g} s.")
                due[name] = time.monotonic() + delay
            for name, when in list(due.items()):
                if time.monotonic() >= when:
                    del due[name]
                    self.restart(name)
            time.sleep(POLL)

    def restart(self, name: str) -> None:
        if name == "redis":
            self.started[name] = time.monotonic()
            try:
                self.redis_proc = self.redis_start()
            except RuntimeError as exc:
                say(str(exc))  # its exit is seen again, and it is tried again after a longer pause
                return
            say(f"Redis: started again (pid {self.redis_proc.pid})")
            return
        old = next(proc for child, proc in self.children if child == name)
        self._killpg(old, signal.SIGKILL)  # what it left in its group (a crashed worker's scheduler)
        self.children.remove((name, old))
        proc = self.spawn(name, self.commands[name])
        say(f"{name}: started again (pid {proc.pid})")

    def run(self) -> int:
        env = self.env
        url = env["REDIS_URL"]
        bind = env.get("BIND") or f"127.0.0.1:{env['PORT']}"
        try:
            shown_url, probe = parse_bind(bind)
        except ValueError:
            say(f"Cannot use BIND={bind!r} / PORT={env['PORT']!r}: expected HOST:PORT with a numeric port.")
            return 2
        try:
            self.media_workers = media_workers(env)
        except ValueError:
            say(f"Cannot use MEDIA_WORKERS={env['MEDIA_WORKERS']!r}: expected a whole number of 1 or more.")
            return 2

        # Links in mails point at the address printed below, unless the operator says otherwise.
        if probe:
            env.setdefault("EXTERNAL_URL", shown_url.rstrip("/"))
        if probe and accepts_connections(*probe):
            say(
                f"{probe[0]}:{probe[1]} is already in use. "
                "Stop what runs there, or pick another port: PORT=8001 make run"
            )
            return 1

        INSTANCE.mkdir(exist_ok=True)
        if not self.ensure_redis(url):
            return 1
        if not self.migrate_db():
            return 0 if self.signals else 1

        for name, queue in worker_names(self.media_workers):
            self.spawn(name, [sys.executable, "worker.py", queue])
        # Enqueues the maintenance job (retention, cleanup) on a timer; a worker runs it.
        self.spawn("clock", [sys.executable, "clock.py"])
        self.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                bind,
                "wsgi:app",
            ],
        )
        if not self.wait_for_web(probe):
            return 0 if self.signals else 1

        self.wait_for_workers(url)
        exited = self.exited_child()
        if exited:
            self.report_exit(*exited)
            return 1
        if self.signals:
            return 0
        self.banner(shown_url, url)
        self.supervise()
        return 0

    def banner(self, shown_url: str, redis_url: str) -> None:
        if self.env.get("MAIL_SERVER"):
            mail = f"sent through {self.env['MAIL_SERVER']}:{self.env.get('MAIL_PORT', '25')}"
        else:
            mail = f"no MAIL_SERVER set: written to {INSTANCE / 'outbox'}/ (and logged)"
        started = " (started here)" if self.redis_proc else ""
        lines = [
            f"Cutroom is running at  {shown_url}",
            f"Redis:    {redacted(redis_url)}{started}",
            f"Workers:  {self.media_workers} for media, one each for "
            f"{', '.join([*QUEUES[1:], *SHORT_LANES.values()])}",
            f"Clock:    maintenance every {self.env.get('MAINTENANCE_INTERVAL') or 3600} s",
            f"Mail:     {mail}",
            "What exits is started again; Ctrl-C stops everything.",
        ]
        rule = "=" * max(len(line) for line in lines)
        print("\n".join(["", rule, *lines, rule, ""]), file=sys.stderr, flush=True)

    # -- shutdown ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the children in order, each with its process group (which also
        catches what a child leaves behind, e.g. RQ's scheduler process when
        its worker crashed), then the Redis started here."""
        running = [(name, proc) for name, proc in self.children if proc.poll() is None]
        # SIGTERM: RQ workers finish the job in hand (warm shutdown), gunicorn
        # finishes in-flight requests. Also sweeps groups of exited children.
        for _name, proc in self.children:
            self._killpg(proc, signal.SIGTERM)
        said = False
        start = time.monotonic()
        while self._alive(running) and self.signals < 2 and time.monotonic() - start < WORKER_GRACE:
            if not said and time.monotonic() - start > 3.0:
                names = ", ".join(name for name, proc in running if proc.poll() is None)
                say(f"waiting up to {WORKER_GRACE:g} s for: {names} (Ctrl-C again to hurry)")
                said = True
            time.sleep(POLL)
        # Hurry: a second SIGTERM is RQ's cold shutdown (it kills the work
        # horse, which runs in a group of its own); SIGINT is gunicorn's quick
        # shutdown. RQ ignores a second signal within 1 s of the first, and a
        # worker SIGKILLed instead would leave its horse running.
        if self._alive(running) and self.signals < 3:
            time.sleep(max(0.0, start + 1.2 - time.monotonic()))
        for name, proc in running:
            if proc.poll() is None:
                self._killpg(proc, signal.SIGINT if name == "web" else signal.SIGTERM)
        start = time.monotonic()
        while self._alive(running) and self.signals < 3 and time.monotonic() - start < HURRY_GRACE:
            time.sleep(POLL)
        for name, proc in running:
            if proc.poll() is None:
                say(f"killing {name}")
        for _name, proc in self.children:
            self._killpg(proc, signal.SIGKILL)
            proc.wait()
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            say("stopping the Redis started here")
            self.localredis.stop(self.redis_proc)
        if self.children or self.redis_proc is not None:
            say("stopped.")

    @staticmethod
    def _alive(procs) -> bool:
        return any(proc.poll() is None for _name, proc in procs)

    @staticmethod
    def _killpg(proc: subprocess.Popen, sig: int) -> None:
        # Each child leads its own process group (start_new_session=True).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def main() -> int:
    os.chdir(ROOT)
    env = dict(os.environ)
    env["REDIS_URL"] = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    env["PORT"] = env.get("PORT") or "8000"
    env["INSTANCE_PATH"] = str(INSTANCE)  # as found from where run.py was started
    env.setdefault("PYTHONUNBUFFERED", "1")  # children's logs appear as they happen
    if sys.platform == "darwin":
        # RQ forks a work horse per job; macOS aborts forked children that touch
        # some Objective-C frameworks (proxy lookup, ...) unless told not to.
        env.setdefault("OBJC_DISABLE_INITIALIZE_FORK_SAFETY", "YES")

    supervisor = Supervisor(env)
    supervisor.install_signal_handlers()
    try:
        return supervisor.run()
    finally:
        supervisor.shutdown()


if __name__ == "__main__":
    sys.exit(main())
