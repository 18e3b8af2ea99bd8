"""Faults at the HTTP level on real gunicorn over raw sockets: stalled bodies, refused bodies, slowloris."""

import http.client
import re
import socket
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, make_user, wait_until
from tests.media import make_audio
from webapp import db
from webapp.models import Item, User


@pytest.fixture
def server(app_env, request):
    """gunicorn (1 worker) with 4 threads, 2 upload slots and a 1 s body timeout."""
    app_env.update({"WEB_THREADS": "4", "UPLOAD_SLOTS": "2", "BODY_TIMEOUT": "1"})
    return request.getfixturevalue("gunicorn_server")


@pytest.fixture
def connect():
    """Open raw sockets to host:port; all closed after the test."""
    socks = []

    def connect(host: str) -> socket.socket:
        name, port = host.split(":")
        socks.append(socket.create_connection((name, int(port)), timeout=10))
        return socks[-1]

    yield connect
    for sock in socks:
        sock.close()


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response with a Content-Length body, read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(rest) < int(headers.get("content-length", 0)):
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset) within the socket's timeout."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


class Session:
    """A logged-in session cookie and a CSRF token for it, got over plain HTTP."""

    def __init__(self, host: str, email: str = "ada@example.com"):
        self.host, self.cookie = host, ""
        token = self.token("/login")
        body = f"email={email}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}"
        status, _ = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, timeout=10)
        conn.request(method, path, body, {"Cookie": self.cookie, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0]
            kept = [c for c in self.cookie.split("; ") if c and not c.startswith(pair.split("=")[0] + "=")]
            self.cookie = "; ".join([*kept, pair])
        conn.close()
        return response.status, data.decode(errors="replace")

    def token(self, path="/videos/new") -> str:
        _, page = self.request("GET", path)
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)

    def upload_head(self, length: int | None, extra: str = "") -> bytes:
        """The request line and headers of an upload, then the form's start up to the file's bytes."""
        framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        return (
            f"POST /videos/new HTTP/1.1\r\nHost: {self.host}\r\nCookie: {self.cookie}\r\n{extra}"
            f"Content-Type: multipart/form-data; boundary=b\r\n{framing}\r\n\r\n"
        ).encode()

    def form_start(self) -> bytes:
        return (
            f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{self.token()}\r\n'
            '--b\r\nContent-Disposition: form-data; name="media"; filename="talk.wav"\r\n\r\n'
        ).encode()


def media_files(app) -> list[Path]:
    return sorted(p for p in Path(app.config["MEDIA_ROOT"]).rglob("*") if p.is_file())


def test_a_stalled_upload_is_dropped_and_its_part_file_removed(app, user, server, connect):
    session = Session(server)
    sock = connect(server)
    sock.sendall(session.upload_head(10_000_000) + session.form_start() + b"RIFF" + b"\0" * 100_000)
    wait_until(lambda: any(Path(app.config["MEDIA_ROOT"]).rglob("*.part")), 10, "the part file")
    # The client stalls: after BODY_TIMEOUT the server gives up, says why and closes.
    status, headers, page = read_response(sock)
    assert status == 400 and "interrupted" in page.decode()
    assert headers["connection"] == "close" and closed(sock)
    wait_until(lambda: media_files(app) == [], 10, "the part file to go")


def test_stalled_uploads_do_not_starve_pages(app, user, server, connect):
    session = Session(server)
    make_user(app, "bob@example.com")
    # 20 logged-out and 20 logged-in sockets start an upload and stall, on a server of 4 threads.
    anonymous = [connect(server) for _ in range(20)]
    for sock in anonymous:
        sock.sendall(
            f"POST /videos/new HTTP/1.1\r\nHost: {server}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n--b".encode()
        )
    logged_in = []
    for _ in range(20):
        request = session.upload_head(10_000_000) + session.form_start()
        logged_in.append(connect(server))
        logged_in[-1].sendall(request)
    # Pages still answer (each request of the session has a 10 s timeout).
    other = Session(server, "bob@example.com")
    for _ in range(5):
        assert other.request("GET", "/videos")[0] == 200
    # Logged out: sent to the login page without the body being read, and the connection closed.
    for sock in anonymous:
        status, headers, _ = read_response(sock)
        assert status == 302 and "/login" in headers["location"] and headers["connection"] == "close"
    # Logged in: two at a time take the upload slots and are dropped once they stall (BODY_TIMEOUT);
    # the others are told to come back, unread. Every one is closed.
    answers = [read_response(sock) for sock in logged_in]
    busy = [page for status, _, page in answers if status == 503]
    assert {status for status, _, _ in answers} == {400, 503} and len(busy) >= 10
    assert all(h["connection"] == "close" for _, h, _ in answers)
    assert all(h["retry-after"] == "30" for status, h, _ in answers if status == 503)
    assert "as many uploads as it can" in busy[0].decode()
    wait_until(lambda: media_files(app) == [], 10, "the part files to go")


def test_slow_uploads_leave_the_database_connections_to_pages(app, app_env, user, request, connect):
    # More uploads at once than a process has database connections (a pool of 5 + 10), all let in.
    app_env.update({"WEB_THREADS": "40", "UPLOAD_SLOTS": "30", "BODY_TIMEOUT": "60"})
    server = request.getfixturevalue("gunicorn_server")
    session = Session(server)
    make_user(app, "bob@example.com")
    uploads = []
    for _ in range(20):
        head = session.upload_head(10_000_000) + session.form_start()
        uploads.append(connect(server))
        uploads[-1].sendall(head + b"RIFF" + b"\0" * 100_000)
    parts = Path(app.config["MEDIA_ROOT"])
    wait_until(lambda: len(list(parts.rglob("*.part"))) == 20, 10, "20 uploads streaming in")
    # Each request of the session has a 10 s timeout; waiting for a connection takes 30 s.
    other = Session(server, "bob@example.com")
    assert other.request("GET", "/videos")[0] == 200
    for sock in uploads:
        sock.close()
    wait_until(lambda: media_files(app) == [], 10, "the part files to go")


@pytest.mark.parametrize("kind", ["chunked upload", "form over the size limit"])
def test_a_refused_body_closes_the_connection_and_the_next_connection_works(app, user, server, connect, kind):
    session = Session(server)
    with app.app_context():
        db.session.scalar(db.select(User)).quota_bytes = 1000
        db.session.commit()
    sock = connect(server)
    if kind == "chunked upload":
        start = session.form_start() + b"x" * 200_000
        sock.sendall(session.upload_head(None) + f"{len(start):x}\r\n".encode() + start + b"\r\n")
        expected = 413
    else:
        sock.sendall(
            f"POST /login HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {3 * 1024 * 1024}\r\n\r\nemail=".encode()
        )
        expected = 413
    status, headers, _ = read_response(sock)
    assert status == expected
    assert headers["connection"] == "close" and closed(sock)
    assert media_files(app) == []
    assert session.request("GET", "/videos")[0] == 200


def test_a_body_read_to_the_end_keeps_the_connection_alive(user, server, connect):
    sock = connect(server)
    body = b"email=nobody%40example.com&password=x"
    request = (
        f"POST /login HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock.sendall(request)
    status, headers, _ = read_response(sock)
    assert status == 400 and headers["connection"] == "keep-alive"  # no CSRF token: the form again
    sock.sendall(f"GET /login HTTP/1.1\r\nHost: {server}\r\n\r\n".encode())
    assert read_response(sock)[0] == 200


def test_files_download_whatever_control_characters_a_name_holds(app, user, server, tmp_path):
    session = Session(server)
    wav = make_audio(tmp_path / "tone.wav", seconds=2)
    body = session.form_start().replace(b'filename="talk.wav"', b'filename="a\x1b[31mb\x7f.wav"')
    body += wav.read_bytes() + b"\r\n--b--\r\n"
    status, _ = session.request(
        "POST", "/videos/new", body, {"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert status == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert item.title == "a[31mb.wav"
        # A title stored before names were cleaned.
        item.title = "x\x00y\x01z\x1b\x7f.wav"
        db.session.commit()
        url = f"/videos/{item.id}/files/{item.files[0].name}"
    for query in ("", "?download"):
        status, _ = session.request("GET", url + query)
        assert status == 200, query


def test_sync_without_external_audio_is_refused_before_the_media_file_is_read(app, user, server, connect):
    # As the upload page sends it: the job fields first, then the (empty) External audio, then the
    # Media file. The client sends the start of a 10 MB body and stalls: the answer must come anyway.
    session = Session(server)
    sock = connect(server)
    fields = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{session.token()}\r\n'
        '--b\r\nContent-Disposition: form-data; name="sync"\r\n\r\ny\r\n'
        '--b\r\nContent-Disposition: form-data; name="external"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="media"; filename="talk.wav"\r\n\r\n'
    ).encode()
    sock.sendall(session.upload_head(10_000_000) + fields + b"RIFF" + b"\0" * 100_000)
    status, headers, page = read_response(sock)
    # Not "interrupted" (what waiting for the rest of the body ends in): refused for its choices.
    assert status == 400 and "To sync, add the External audio file as well." in page.decode()
    assert headers["connection"] == "close" and closed(sock)
    assert media_files(app) == []
    assert session.request("GET", "/videos")[0] == 200
