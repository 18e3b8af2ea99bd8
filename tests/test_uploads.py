"""Uploads: streamed into place, limited by size and quota while bytes arrive, bad files refused."""

import hashlib
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, csrf_from, make_user
from tests.media import make_audio, make_text_file, make_truncated, make_video
from webapp import db
from webapp.models import Item, MediaFile, Task, User, used_bytes
from webapp.storage import item_dir

MB = 1024 * 1024


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "talk.mp4"
    make_video(path, seconds=3)
    return path


def media_files(app) -> list[Path]:
    root = Path(app.config["MEDIA_ROOT"])
    return sorted(p for p in root.rglob("*") if p.is_file())


def upload(client, path: Path, name: str | None = None, **extra):
    token = csrf_from(client.get("/videos/new"))
    with open(path, "rb") as f:
        data = {"csrf_token": token, "media": (f, name or path.name), **extra}
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.get_data()
    response.request.input_stream.close()  # the test client's spooled body; it leaves it open
    return response


def set_quota(app, email, quota):
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        user.quota_bytes = quota
        db.session.commit()


def test_upload_page_needs_login(client):
    response = client.get("/videos/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_upload_lands_in_item_folder_and_enqueues_preparation(app, client, logged_in, video):
    response = upload(client, video, name="Talk & <b>one<b>.mp4")
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        stored = item_dir(item) / "original.mp4"
        assert item.title == "Talk & <b>one<b>.mp4"
        assert item.kind == "video" and abs(item.duration - 3) < 0.2
        assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(video.read_bytes()).digest()
        assert used_bytes(logged_in.id) == video.stat().st_size
        (task,) = item.tasks
        # A 3 s recording: its jobs wait in the short lane (webapp/queues.py).
        assert (task.kind, task.queue, task.status) == ("prepare", "media-short", Task.QUEUED)
        from rq.job import Job

        from webapp.pipeline import redis_conn

        job = Job.fetch(task.rq_job_id, connection=redis_conn())
        assert job.origin == "media-short" and job.timeout == 30 * 60
    assert media_files(app) == [stored]
    page = client.get("/videos").get_data(as_text=True)
    assert "Talk &amp; &lt;b&gt;one&lt;b&gt;.mp4" in page and "<b>one" not in page
    assert "1st in line" in page
    assert 'hx-trigger="every 1s"' in page


def test_unconfirmed_user_is_told_to_confirm_and_nothing_is_stored(app, client, auth, video):
    make_user(app, confirmed=False)
    auth.login()
    page = client.get("/videos/new").get_data(as_text=True)
    assert "Confirm your email first" in page and "Send the link again" in page
    response = upload(client, video)
    assert response.status_code == 403
    assert media_files(app) == []


@pytest.mark.parametrize(
    ("make", "status", "message"),
    [
        (lambda p: p.write_bytes(b""), 400, "the file is empty"),
        (make_text_file, 415, "not"),
        (lambda p: p.write_bytes(os.urandom(200_000)), 415, "not"),
    ],
    ids=["empty", "text-renamed", "random-bytes"],
)
def test_bad_files_are_refused_and_deleted(app, client, logged_in, tmp_path, make, status, message):
    path = tmp_path / "clip.mp4"
    make(path)
    response = upload(client, path)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert media_files(app) == []
    with app.app_context():
        assert db.session.scalar(db.select(Item)) is None


def test_truncated_video_is_refused(app, client, logged_in, video, tmp_path):
    cut = tmp_path / "cut.mp4"
    make_video(tmp_path / "whole.mp4", seconds=3, faststart=False)
    make_truncated(tmp_path / "whole.mp4", cut, keep_fraction=0.5)
    response = upload(client, cut)
    assert response.status_code == 415
    assert "damaged" in response.get_data(as_text=True) or "truncated" in response.get_data(as_text=True)
    assert media_files(app) == []


def test_external_audio_must_be_audio(app, client, logged_in, video, tmp_path):
    text = tmp_path / "mic.wav"
    make_text_file(text)
    with open(text, "rb") as f:
        response = upload(client, video, external=(f, "mic.wav"))
    assert response.status_code == 415
    assert "External audio" in response.get_data(as_text=True)
    assert media_files(app) == []


# A web process of its own (a test run has long imported PyAV): it logs in, uploads a recording
# and a text file, prints the status codes and which of the media libraries it loaded.
WEB_ROUND_TRIP = """
import sys
from webapp import create_app, db
from webapp.models import User, utcnow

app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
with app.app_context():
    db.create_all()
    user = User(email="ada@example.com", confirmed_at=utcnow())
    user.set_password("correct horse battery")
    db.session.add(user)
    db.session.commit()
client = app.test_client()
client.post("/login", data={"email": "ada@example.com", "password": "correct horse battery"})
for name in sys.argv[1:]:
    with open(name, "rb") as media:
        data = {"media": (media, name)}
        print(client.post("/videos/new", data=data, content_type="multipart/form-data").status_code)
print(*[name for name in ("av", "numpy", "faster_whisper") if name in sys.modules])
"""


def test_the_web_process_checks_uploads_without_loading_media_code(app_env, video, tmp_path):
    text = make_text_file(tmp_path / "notes.mp4")
    done = subprocess.run(
        [sys.executable, "-c", WEB_ROUND_TRIP, str(video), str(text)],
        cwd=ROOT,
        env={**os.environ, **app_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["303", "415"], done.stderr


def test_upload_over_quota_is_stopped_midway_and_leaves_nothing(app, client, logged_in, video, tmp_path):
    assert upload(client, video).status_code == 303
    first = media_files(app)
    used = video.stat().st_size
    set_quota(app, logged_in.email, used + 2 * MB)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(int(2.5 * MB)))  # fits the declared-length check, not the quota
    response = upload(client, big)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "left of" in page and "2.0 MiB left" in page
    assert media_files(app) == first
    with app.app_context():
        assert used_bytes(logged_in.id) == used


def test_upload_larger_than_limit_is_refused_before_storing(app, client, logged_in, tmp_path):
    app.config["MAX_UPLOAD_SIZE"] = 1 * MB
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(3 * MB))
    response = upload(client, big)
    assert response.status_code == 413
    assert "larger than the 1.0 MiB upload limit" in response.get_data(as_text=True)
    assert media_files(app) == []


def test_missing_csrf_token_is_400_and_stores_nothing(app, client, logged_in, video):
    with open(video, "rb") as f:
        response = client.post(
            "/videos/new", data={"media": (f, "a.mp4")}, content_type="multipart/form-data"
        )
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert media_files(app) == []


def test_another_users_item_is_404(app, client, auth, logged_in, video):
    assert upload(client, video).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        name = item.file("original").name
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/videos"))})
    make_user(app, email="eve@example.com")
    auth.login("eve@example.com")
    token = csrf_from(client.get("/videos/new"))
    for url in (f"/videos/{item.id}", f"/videos/{item.id}/progress", f"/videos/{item.id}/files/{name}"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/videos/{item.id}/delete", data={"csrf_token": token}).status_code == 404
    assert len(media_files(app)) == 1


def test_files_are_served_with_range_and_delete_frees_space(app, client, logged_in, video):
    assert upload(client, video).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
    url = f"/videos/{item.id}/files/original.mp4"
    with client.get(url, headers={"Range": "bytes=0-99"}) as response:
        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes 0-99/{video.stat().st_size}"
        assert response.data == video.read_bytes()[:100]
    with client.get(url, headers={"Range": "bytes=999999999-"}) as response:
        assert response.status_code == 416
    # A file that has gone missing on disk is a 404 with the usual page, not a server error.
    with app.app_context():
        poster = item_dir(item) / "poster.jpg"
        poster.write_bytes(b"stand-in")
        db.session.add(MediaFile(item_id=item.id, role="poster", name="poster.jpg", size=8))
        db.session.commit()
    poster.unlink()
    response = client.get(f"/videos/{item.id}/files/poster.jpg")
    assert response.status_code == 404 and "There is nothing here" in response.get_data(as_text=True)
    with app.app_context():
        db.session.add(MediaFile(item_id=item.id, role="transcript_json", name="transcript.json", size=9))
        db.session.commit()
    assert client.get(f"/videos/{item.id}").status_code == 200  # the page, without that transcript
    token = csrf_from(client.get(f"/videos/{item.id}"))
    response = client.post(f"/videos/{item.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert media_files(app) == []
    with app.app_context():
        assert used_bytes(logged_in.id) == 0
    assert client.get(f"/videos/{item.id}").status_code == 404


# --- over real HTTP: memory, temp copies and clients that go away -------------------------


class Browser:
    """A minimal HTTP client with cookies, streaming request bodies from disk."""

    def __init__(self, host):
        self.host, self.cookies = host, {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        conn.close()
        return response.status, data.decode(errors="replace")

    def login(self, email="ada@example.com", password="correct horse battery"):
        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        body = f"email={email}&password={password.replace(' ', '+')}&csrf_token={token}"
        status, _ = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302

    def upload_parts(self, path: Path):
        _, page = self.request("GET", "/videos/new")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="{path.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + path.stat().st_size + len(tail)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)}
        return head, tail, headers


def test_upload_streams_without_memory_or_temp_copies(app, logged_in, served, tmp_path, monkeypatch):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(MB))
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    browser = Browser(served.removeprefix("http://"))
    browser.login()
    head, tail, headers = browser.upload_parts(big)

    def body():
        yield head
        with open(big, "rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
                assert not any(spool.iterdir()), "the upload was spooled to a temp file"
        yield tail

    tracemalloc.start()
    status, page = browser.request("POST", "/videos/new", body(), headers)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Random bytes are not media: refused after being streamed and probed, then deleted.
    assert status == 415, page
    # Holding the body would show at least 64 MB; the rest is the test client and server threads.
    assert peak < 16 * MB, f"peak traced memory {peak / MB:.1f} MB while uploading 64 MB"
    assert media_files(app) == []


@pytest.mark.parametrize("server", ["werkzeug", "gunicorn"])
def test_client_that_disconnects_midway_leaves_nothing(app, logged_in, video, request, server):
    host = request.getfixturevalue("served" if server == "werkzeug" else "gunicorn_server")
    host = host.removeprefix("http://")
    browser = Browser(host)
    browser.login()
    head, tail, headers = browser.upload_parts(video)
    sock = socket.create_connection(tuple(host.split(":")[:1]) + (int(host.split(":")[1]),))
    request_head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    sock.sendall(
        f"POST /videos/new HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{request_head}\r\n".encode()
    )
    sock.sendall(head + video.read_bytes()[: video.stat().st_size // 2])
    time.sleep(0.5)  # let the server write what it got
    sock.shutdown(socket.SHUT_WR)
    sock.recv(65536)
    sock.close()
    deadline = time.monotonic() + 10
    while media_files(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert media_files(app) == []
    assert not any(Path(app.config["MEDIA_ROOT"]).rglob("*.part"))
    with app.app_context():
        assert db.session.scalar(db.select(Item)) is None
        assert used_bytes(logged_in.id) == 0


# --- what a file is stored as and served as: never what its name on the client said -----------


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return make_audio(tmp_path_factory.mktemp("wav") / "tone.wav", seconds=2)


@pytest.mark.parametrize(
    "name", ["evil.html", "evil.svg", "evil.js", "evil.xhtml", "evil.xml", "no extension"]
)
def test_an_upload_is_stored_and_served_by_what_it_is_not_by_its_name(app, client, logged_in, wav, name):
    assert upload(client, wav, name=name).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert item.title == name and [f.name for f in item.files] == ["original.wav"]
    assert [p.name for p in media_files(app)] == ["original.wav"]
    with client.get(f"/videos/{item.id}/files/original.wav") as response:
        assert response.status_code == 200 and response.mimetype == "audio/wav"
        assert response.headers["Content-Disposition"].startswith("inline")
        assert response.headers["Content-Security-Policy"].endswith("; sandbox")
    with client.get(f"/videos/{item.id}/files/original.wav?download") as response:
        stem = name.rsplit(".", 1)[0]
        assert response.headers["Content-Disposition"] in (
            f"attachment; filename={stem}.wav",
            f'attachment; filename="{stem}.wav"',
        )


def test_a_stored_file_of_a_type_not_allowed_inline_is_only_ever_an_attachment(app, client, logged_in, wav):
    assert upload(client, wav).status_code == 303
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        # As stored before the type came from the probe: the client's name decided the extension.
        folder = item_dir(item)
        (folder / "original.wav").rename(folder / "original.html")
        item.files[0].name = "original.html"
        db.session.commit()
        item_id = item.id
    with client.get(f"/videos/{item_id}/files/original.html") as response:
        assert response.status_code == 200 and response.mimetype == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "name", ["a\x00b.wav", "a\x01b.wav", "a\x1bb.wav", "a\x7fb.wav", "a\u202eb.wav", "a\tb.wav"]
)
def test_control_characters_are_taken_out_of_names(app, client, logged_in, wav, name):
    assert upload(client, wav, name=name).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Item)).title in ("ab.wav", "a b.wav")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("threshold_db", "-120", "A level between -90 and 0 dBFS, or auto."),
        ("threshold_db", "5", "A level between -90 and 0 dBFS, or auto."),
        ("min_silence", "50", "Between 0.1 and 10 seconds."),
        ("margin", "-1", "Between 0 and 2 seconds."),
    ],
)
def test_settings_out_of_range_are_refused_with_the_range(
    app, client, logged_in, video, field, value, message
):
    response = upload(client, video, silence="y", **{field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert media_files(app) == []
