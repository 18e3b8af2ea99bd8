"""Helpers and constants that tests import; the fixtures that use them are in tests/conftest.py."""

import socket
import subprocess
import threading
import time
from email import message_from_bytes
from pathlib import Path

from webapp import db
from webapp.models import User, utcnow

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
OFFSET = -0.75  # in `recording`, the microphone started 0.75 s before the camera


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
