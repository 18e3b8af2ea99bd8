"""Shared fixtures: a private Redis and SMTP server per session, an app per test, users, a real worker."""

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from email import message_from_bytes
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from webapp import create_app, db
from webapp.localredis import free_port, start_redis, stop
from webapp.models import User, utcnow

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
OFFSET = -0.75  # in `recording`, the microphone started 0.75 s before the camera
PG_ADMIN_URL = os.environ.get("PG_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = free_port()
    proc = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


class PrivateRedis:
    """A redis-server of one test's own, persisting like the one `make run` starts, to stop and
    start again on the same port."""

    def __init__(self, workdir: Path):
        self.port, self.workdir, self.proc = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.port, self.workdir, persist=True)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def own_redis(app_env, tmp_path):
    """A Redis for this test alone, to stop and start; request it before `app`."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    app_env["REDIS_URL"] = server.url
    yield server
    server.stop()


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []
        self.envelopes = []  # as received, for checking what went over the wire
        self.received = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.received:
            self.envelopes.append(envelope)
            self.messages.append(message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20):
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    """A camera video and a separate microphone's recording of the same 24 s of speech."""
    from tests.media import derive_track, speech_scene, write_track

    folder = tmp_path_factory.mktemp("pair")
    scene = speech_scene(26, seed=7)
    camera = write_track(folder / "camera.mp4", derive_track(scene, 1.0, 24, snr_db=25), video=True)
    mic = derive_track(scene, 1.0 + OFFSET, 25, gain_db=-4, sample_rate=44100, seed=3)
    external = write_track(folder / "mic.wav", mic, sample_rate=44100)
    return camera, external


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    _, box = smtp_server
    box.messages.clear()
    box.envelopes.clear()
    return box


@pytest.fixture
def app_env(tmp_path, redis_url, smtp_server):
    """The environment the app and its workers share; tests may change it before `app` is made."""
    controller, _ = smtp_server
    return {
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "MAIL_SERVER": controller.hostname,
        "MAIL_PORT": str(controller.port),
        "EXTERNAL_URL": "http://localhost",
        "PROGRESS_INTERVAL": "0.05",
    }


@pytest.fixture
def pg_database():
    """A new, empty PostgreSQL database (its postgresql:// URL), dropped after the test.

    Skips the test when no server answers at PG_TEST_URL (default: the local one).
    """
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as error:  # no server here: nothing to test against
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}: {error.__class__.__name__}")
    name = f"cutroom_test_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    # The plain postgresql:// form people write; config points it at psycopg 3.
    yield PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database "{name}" with (force)'))
    admin.dispose()


@pytest.fixture
def app(app_env, monkeypatch):
    for key, value in app_env.items():
        monkeypatch.setenv(key, value)
    app = create_app({"TESTING": True})
    with app.app_context():
        # Quicker than the migrations; tests/test_migrations.py proves that they make the same tables.
        db.create_all()
    from webapp.pipeline import redis_conn

    with app.app_context():
        redis_conn().flushdb()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def make_user(app, email="ada@example.com", password=PASSWORD, confirmed=True, **fields) -> User:
    with app.app_context():
        user = User(email=email, confirmed_at=utcnow() if confirmed else None, **fields)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def csrf_from(response) -> str:
    """The CSRF token embedded in a rendered page."""
    html = response.get_data(as_text=True)
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.find(marker)
    if start < 0:
        marker = 'name="csrf_token" value="'
        start = html.find(marker)
    assert start >= 0, "page has no CSRF token"
    start += len(marker)
    return html[start : html.index('"', start)]


class Auth:
    def __init__(self, app, client):
        self.app, self.client = app, client

    def login(self, email="ada@example.com", password=PASSWORD, **extra):
        token = csrf_from(self.client.get("/login"))
        data = {"email": email, "password": password, "csrf_token": token, **extra}
        return self.client.post("/login", data=data)

    def csrf(self, path="/videos/new") -> str:
        return csrf_from(self.client.get(path))


@pytest.fixture
def auth(app, client):
    return Auth(app, client)


@pytest.fixture
def user(app):
    return make_user(app)


@pytest.fixture
def logged_in(auth, user):
    response = auth.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    return user


def wait_until(condition, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)
    return value


def processes_with(text: str) -> list[int]:
    """The running processes whose command line contains `text` (a job's scratch path, say)."""
    table = subprocess.run(["ps", "-ww", "-e", "-o", "pid=,args="], capture_output=True, text=True).stdout
    # A zombie's command line no longer shows its arguments: it runs nothing any more.
    return [int(line.split(None, 1)[0]) for line in table.splitlines() if text in line]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@pytest.fixture
def start(app_env):
    """Start project processes (gunicorn, workers) with the app's environment; stopped after the test."""
    procs = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **app_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def gunicorn_server(app, start) -> str:
    """The app served by gunicorn with the production settings, as host:port."""
    port = free_port()
    start("-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w", "1", "wsgi:app")
    wait_for_port(port)
    return f"127.0.0.1:{port}"


@pytest.fixture
def run_worker(app_env):
    """Run a real RQ worker (worker.py, burst mode) in its own process until its queues are empty.

    Returns its log, or with wait=False the running process.
    """

    def run(*queues, wait=True, timeout=180):
        env = {**os.environ, **app_env}
        cmd = [sys.executable, str(ROOT / "worker.py"), "--burst", *queues]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not wait:
            return proc
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out.decode(errors="replace")
        return out.decode(errors="replace")

    return run
