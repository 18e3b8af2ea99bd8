"""Shared fixtures: a private Redis and SMTP server per session, an app per test, users, a real worker.

Helpers that tests import themselves (make_user, csrf_from, wait_until, ...) are in tests/helpers.py.
"""

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from tests.helpers import OFFSET, ROOT, Auth, Mailbox, make_user, wait_for_port
from webapp import create_app, db
from webapp.localredis import free_port, start_redis, stop

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


@pytest.fixture
def served(app):
    """The app (this test's, as configured) on a threaded HTTP server on loopback: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


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
