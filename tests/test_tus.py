"""Resumable uploads (tus 1.0) at the API's door and the upload page's, and batches: an upload cut off
mid-way on a real HTTP server resumes with the tuspy client and its jobs run through a real worker;
the checks of a plain upload (quota, size limit, probe) apply; checksums, termination, expiry, and
another user's or a read-only token's requests."""

import base64
import hashlib
import socket
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tusclient import client as tus_client

from tests.helpers import csrf_from, make_user
from tests.media import make_text_file, make_video
from tests.test_api import assert_problem, bearer, issue
from webapp import db
from webapp.api.auth import READ_ONLY
from webapp.maintenance import run_maintenance
from webapp.models import Item, Reservation, TusUpload, utcnow
from webapp.quota import space_left
from webapp.storage import user_dir
from webapp.tus import CHECKSUM_FAILED, PARTIAL, WRONG_OFFSET, WRONG_TYPE

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**pairs) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client, headers, length: int, url="/api/v1/uploads", **pairs):
    pairs.setdefault("filename", "talk.mp4")
    return client.post(
        url, headers={**TUS, **headers, "Upload-Length": str(length), "Upload-Metadata": metadata(**pairs)}
    )


def send(client, headers, url: str, data: bytes, offset: int, **more):
    return client.patch(
        url,
        data=data,
        headers={**TUS, **headers, "Content-Type": OCTETS, "Upload-Offset": str(offset), **more},
    )


def offset_of(client, headers, url: str) -> int:
    response = client.head(url, headers={**TUS, **headers})
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def leftovers(app, user_id: int) -> list:
    """What is on disk and in the database of uploads of the user: nothing once they are gone."""
    with app.app_context():
        folder = user_dir(user_id)
        files = sorted(p.name for p in folder.rglob("*")) if folder.exists() else []
        uploads = db.session.scalar(sa.select(sa.func.count(TusUpload.id)))
        reservations = db.session.scalar(sa.select(sa.func.count(Reservation.id)))
        return [files, uploads, reservations]


@pytest.fixture
def ada(app):
    return make_user(app, "ada@example.com")


def test_an_upload_cut_off_midway_resumes_from_the_servers_offset_and_its_jobs_run(
    app, client, ada, served, tmp_path, run_worker
):
    token = issue(app, "ada@example.com")
    video = make_video(tmp_path / "talk.mp4", seconds=4)
    data = video.read_bytes()
    created = create(client, bearer(token), len(data), silence="true", margin="0.2", batch="evening")
    assert created.status_code == 201, created.get_data(as_text=True)
    url = created.headers["Location"]
    assert url.startswith("http://localhost/api/v1/uploads/") and created.headers["Tus-Resumable"] == "1.0.0"
    path = url.removeprefix("http://localhost")

    # A raw client sends the whole PATCH's headers and 60 % of its body, then the connection drops.
    cut = len(data) * 6 // 10
    port = int(served.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nContent-Type: {OCTETS}\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:cut])
    deadline = time.monotonic() + 10
    while offset_of(client, bearer(token), path) < cut and time.monotonic() < deadline:
        time.sleep(0.05)
    # The server kept every byte that arrived, and says so.
    assert offset_of(client, bearer(token), path) == cut
    assert client.get("/api/v1/items", headers=bearer(token)).json["items"] == []

    # tuspy resumes at the server's offset (HEAD), in chunks, with sha1 checksums.
    tus = tus_client.TusClient(served + "/api/v1/uploads", headers=bearer(token))
    with open(video, "rb") as stream:
        uploader = tus.uploader(
            file_stream=stream, url=served + path, chunk_size=64 * 1024, upload_checksum=True
        )
        assert uploader.offset == cut
        uploader.upload()
        assert uploader.offset == len(data)

    items = client.get("/api/v1/items", headers=bearer(token)).json["items"]
    assert len(items) == 1 and items[0]["title"] == "talk.mp4" and items[0]["batch"] == "evening"
    assert {t["kind"] for t in items[0]["tasks"]} == {"prepare", "silence"}
    # Asked again (its last answer lost, say), the upload says every byte is in and where its item is.
    finished = client.head(path, headers={**TUS, **bearer(token)})
    assert finished.status_code == 200 and finished.headers["Upload-Offset"] == str(len(data))
    assert finished.headers["Location"] == items[0]["url"]
    again = tus_client.TusClient(served + "/api/v1/uploads", headers=bearer(token))
    with open(video, "rb") as stream:
        resumed = again.uploader(file_stream=stream, url=served + path, chunk_size=64 * 1024)
        assert resumed.offset == len(data)
        resumed.upload()  # nothing left to send: no second item
    assert len(client.get("/api/v1/items", headers=bearer(token)).json["items"]) == 1
    run_worker("media")
    done = client.get(items[0]["url"], headers=bearer(token)).json
    assert done["status"] == "done"
    files = {f["role"]: f for f in done["files"]}
    assert {"original", "cut"} <= set(files)
    with client.get(files["original"]["url"], headers=bearer(token)) as original:
        assert original.data == data  # byte for byte what was sent, in two goes
    assert leftovers(app, ada.id)[2] == 0  # no space held beyond the item's files


def test_tuspy_uploads_a_whole_file_and_options_say_what_the_server_speaks(
    app, client, ada, served, tmp_path
):
    token = issue(app, "ada@example.com")
    options = client.options("/api/v1/uploads")
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0" and options.headers["Tus-Resumable"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) >= {"creation", "termination", "checksum"}
    assert "sha1" in options.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(options.headers["Tus-Max-Size"]) == app.config["MAX_UPLOAD_SIZE"]

    video = make_video(tmp_path / "clip.mp4", seconds=2)
    tus = tus_client.TusClient(served + "/api/v1/uploads", headers=bearer(token))
    with open(video, "rb") as stream:
        tus.uploader(file_stream=stream, metadata={"filename": "clip.mp4", "transcribe": "true"}).upload()
    items = client.get("/api/v1/items", headers=bearer(token)).json["items"]
    assert [i["title"] for i in items] == ["clip.mp4"]
    assert {"prepare", "transcribe"} <= {t["kind"] for t in items[0]["tasks"]}

    # Its row, kept for HEAD, expires like an abandoned one; the item keeps its files.
    with app.app_context():
        db.session.execute(sa.update(TusUpload).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert run_maintenance()["abandoned uploads"] == "0 removed"
    files, uploads, reservations = leftovers(app, ada.id)
    assert uploads == 0 and reservations == 0 and any(name.startswith("original") for name in files)
    with client.get(items[0]["url"] + "/files/original.mp4", headers=bearer(token)) as original:
        assert original.status_code == 200


def test_a_chunk_whose_checksum_fails_is_460_and_not_kept(app, client, ada, tmp_path):
    token = issue(app, "ada@example.com")
    data = make_video(tmp_path / "talk.mp4", seconds=2).read_bytes()
    url = create(client, bearer(token), len(data)).headers["Location"]
    first = data[:1000]
    good = "sha1 " + base64.b64encode(hashlib.sha1(first).digest()).decode()
    bad = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    refused = send(client, bearer(token), url, first, 0, **{"Upload-Checksum": bad})
    assert_problem(refused, 460, CHECKSUM_FAILED)
    assert offset_of(client, bearer(token), url) == 0
    kept = send(client, bearer(token), url, first, 0, **{"Upload-Checksum": good})
    assert kept.status_code == 204 and kept.headers["Upload-Offset"] == "1000"
    unknown = send(client, bearer(token), url, data[1000:], 1000, **{"Upload-Checksum": "crc99 AAAA"})
    assert_problem(unknown, 400, "Upload-Checksum must be")
    assert offset_of(client, bearer(token), url) == 1000


def test_a_wrong_offset_is_409_and_a_wrong_type_415(app, client, ada):
    token = issue(app, "ada@example.com")
    url = create(client, bearer(token), 100).headers["Location"]
    assert send(client, bearer(token), url, b"x" * 10, 0).status_code == 204
    behind = send(client, bearer(token), url, b"x" * 10, 0)
    assert_problem(behind, 409, WRONG_OFFSET.format(offset=10))
    assert behind.headers["Upload-Offset"] == "10"
    typed = client.patch(
        url, data=b"x", headers={**TUS, **bearer(token), "Upload-Offset": "10", "Content-Type": "text/plain"}
    )
    assert_problem(typed, 415, WRONG_TYPE)
    assert_problem(send(client, bearer(token), url, b"x" * 91, 10), 413, "past the upload's length")
    assert offset_of(client, bearer(token), url) == 10


def test_creation_over_the_quota_or_the_size_limit_is_413_with_the_pages_sentence(app, client):
    small = make_user(app, "small@example.com", quota_bytes=10_000)
    token = issue(app, "small@example.com")
    assert_problem(create(client, bearer(token), 20_000), 413, "This upload does not fit in your space")
    assert leftovers(app, small.id) == [[], 0, 0]  # refused before anything was made
    # Two uploads that each fit, but not together: the first holds its space, the second is refused.
    assert create(client, bearer(token), 6_000).status_code == 201
    assert_problem(create(client, bearer(token), 6_000), 413, "This upload does not fit in your space")
    app.config["MAX_UPLOAD_SIZE"] = 1000
    assert_problem(create(client, bearer(token), 1001), 413, "larger than the 1000 bytes upload limit")
    assert_problem(create(client, bearer(token), 100, filename=""), 400, "filename")
    assert_problem(create(client, bearer(token), 100, sync="true"), 400, "External audio")
    assert_problem(create(client, bearer(token), 100, batch="no spaces"), 400, "batch id")


def test_a_file_that_is_not_media_is_refused_at_the_end_and_nothing_is_left(app, client, ada, tmp_path):
    token = issue(app, "ada@example.com")
    text = make_text_file(tmp_path / "notes.mp4").read_bytes()
    url = create(client, bearer(token), len(text), filename="notes.mp4").headers["Location"]
    with app.app_context():
        assert space_left(db.session.get(type(ada), ada.id)) <= ada.quota - len(text)  # held at creation
    refused = send(client, bearer(token), url, text, 0)
    assert_problem(refused, 415, "Media file: ")
    assert leftovers(app, ada.id) == [[], 0, 0]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Item.id))) == 0


def test_termination_removes_the_bytes_and_gives_the_space_back(app, client, ada):
    token = issue(app, "ada@example.com")
    url = create(client, bearer(token), 100).headers["Location"]
    send(client, bearer(token), url, b"x" * 40, 0)
    assert PARTIAL in leftovers(app, ada.id)[0]
    assert client.delete(url, headers={**TUS, **bearer(token)}).status_code == 204
    assert leftovers(app, ada.id) == [[], 0, 0]
    assert client.head(url, headers={**TUS, **bearer(token)}).status_code == 404


def test_abandoned_uploads_expire_and_maintenance_removes_them(app, client, ada):
    token = issue(app, "ada@example.com")
    old = create(client, bearer(token), 100).headers["Location"]
    fresh = create(client, bearer(token), 100).headers["Location"]
    send(client, bearer(token), old, b"x" * 40, 0)
    with app.app_context():
        upload = db.session.get(TusUpload, old.rsplit("/", 1)[1])
        past = utcnow() - timedelta(seconds=1)
        upload.expires_at = past
        held = sa.update(Reservation).where(Reservation.id == upload.reservation_id)
        db.session.execute(held.values(expires_at=past))
        db.session.commit()
    # Expired: answered as gone at once, removed by the next maintenance run.
    assert client.head(old, headers={**TUS, **bearer(token)}).status_code == 404
    with app.app_context():
        assert run_maintenance()["abandoned uploads"] == "1 removed"
    files, uploads, reservations = leftovers(app, ada.id)
    assert uploads == 1 and reservations == 1 and files.count(PARTIAL) == 1
    assert offset_of(client, bearer(token), fresh) == 0  # the live one is untouched
    with app.app_context():
        assert run_maintenance()["abandoned uploads"] == "0 removed"


def test_another_users_upload_is_404_and_a_read_token_may_not_write(app, client, ada):
    make_user(app, "bob@example.com")
    adas, bobs = issue(app, "ada@example.com"), issue(app, "bob@example.com")
    url = create(client, bearer(adas), 100).headers["Location"]
    assert client.head(url, headers={**TUS, **bearer(bobs)}).status_code == 404
    assert_problem(send(client, bearer(bobs), url, b"x", 0), 404)
    assert_problem(client.delete(url, headers={**TUS, **bearer(bobs)}), 404)
    assert offset_of(client, bearer(adas), url) == 0

    reader = issue(app, "ada@example.com", scope="read")
    assert_problem(create(client, bearer(reader), 100), 403, READ_ONLY)
    assert_problem(send(client, bearer(reader), url, b"x", 0), 403, READ_ONLY)
    assert_problem(client.delete(url, headers={**TUS, **bearer(reader)}), 403, READ_ONLY)
    assert offset_of(client, bearer(reader), url) == 0  # reading is allowed


def test_an_unconfirmed_account_cannot_start_one(app, client):
    make_user(app, "new@example.com", confirmed=False)
    token = issue(app, "new@example.com")
    assert_problem(create(client, bearer(token), 100), 403, "open the confirmation link")


def test_the_upload_pages_door_takes_the_session_with_the_csrf_token_in_a_header(
    app, client, auth, ada, tmp_path
):
    auth.login()
    token = csrf_from(client.get("/videos/new"))
    data = make_video(tmp_path / "talk.mp4", seconds=2).read_bytes()
    assert create(client, {}, len(data), url="/videos/uploads").status_code == 400  # no CSRF token
    csrf = {"X-CSRFToken": token}
    created = create(client, csrf, len(data), url="/videos/uploads", silence="true", batch="b1")
    assert created.status_code == 201
    url = created.headers["Location"]
    assert url.startswith("http://localhost/videos/uploads/")
    assert send(client, {}, url, data, 0).status_code == 400
    done = send(client, csrf, url, data, 0)
    assert done.status_code == 204, done.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(sa.select(Item))
        assert item.batch == "b1" and done.headers["Location"].endswith(f"/videos/{item.id}")
    # The API's tokens are not taken here, nor the session there.
    client.get("/auth/logout")
    assert create(client, {}, 10, url="/api/v1/uploads").status_code == 401


def test_a_batch_sent_one_by_one_through_the_api_shows_as_one_in_the_library(
    app, client, auth, ada, tmp_path
):
    token = issue(app, "ada@example.com")
    video = make_video(tmp_path / "talk.mp4", seconds=2)
    ids = []
    for name in ("one.mp4", "two.mp4"):
        with open(video, "rb") as f:
            made = client.post(
                "/api/v1/items",
                data={"file": (f, name), "batch": "monday"},
                headers=bearer(token),
                content_type="multipart/form-data",
            )
        made.request.input_stream.close()
        assert made.status_code == 201 and made.json["batch"] == "monday"
        ids.append(made.json["id"])
    with open(video, "rb") as f:
        alone = client.post(
            "/api/v1/items",
            data={"file": (f, "alone.mp4")},
            headers=bearer(token),
            content_type="multipart/form-data",
        )
    alone.request.input_stream.close()
    assert alone.json["batch"] is None

    auth.login()
    library = client.get("/videos").get_data(as_text=True)
    assert library.count("batch of 2") == 2 and 'href="/videos?batch=monday"' in library
    page = client.get("/videos?batch=monday").get_data(as_text=True)
    batch = page[page.index('id="library"') :]
    assert "The 2 items uploaded in one batch" in page
    assert "one.mp4" in batch and "two.mp4" in batch and "alone.mp4" not in batch
