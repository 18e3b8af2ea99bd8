"""Disk space: usage in the database equals the bytes on disk at every step, and a nearly full disk
refuses uploads (507) and jobs (failed with the reason) before it fills up."""

import io
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from jobs.errors import MediaError
from tests.helpers import csrf_from
from tests.media import make_talk
from webapp import db
from webapp.disk import SMALL_OUTPUTS, check_room_for_task
from webapp.helpers import filesize
from webapp.kinds import KINDS
from webapp.models import Item, MediaFile, Task, used_bytes
from webapp.storage import item_dir, user_dir
from webapp.tasks.outputs import sound

MB = 1024 * 1024
PATTERN = [(1.0, True), (0.7, False), (1.3, True), (1.0, False), (0.8, True), (0.9, False), (1.2, True)]


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """A short spoken-like audio recording with pauses, and the same sound as "external audio"."""
    folder = tmp_path_factory.mktemp("talk")
    original = make_talk(folder / "talk.wav", PATTERN, video=False)
    external = folder / "mic.wav"
    shutil.copy(original, external)
    return original, external


def upload(client, media: Path, external: Path | None = None, **jobs):
    token = csrf_from(client.get("/videos/new"))
    data = {"csrf_token": token, **{name: "y" for name, on in jobs.items() if on}}
    with open(media, "rb") as m, open(external or media, "rb") as e:
        data["media"] = (m, media.name)
        if external:
            data["external"] = (e, external.name)
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.get_data()
    response.request.input_stream.close()
    return response


def files_on_disk(app, user_id: int) -> list[Path]:
    with app.app_context():
        folder = user_dir(user_id)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def assert_usage_matches_disk(app, user_id: int) -> int:
    on_disk = sum(p.stat().st_size for p in files_on_disk(app, user_id))
    with app.app_context():
        rows = [(f.name, f.size) for f in db.session.scalars(db.select(MediaFile))]
        assert used_bytes(user_id) == on_disk, (rows, [p.name for p in files_on_disk(app, user_id)])
    return on_disk


def only_item(app) -> Item:
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        db.session.expunge(item)
        return item


def statuses(app) -> dict[str, tuple[str, str | None]]:
    with app.app_context():
        return {t.kind: (t.status, t.error) for t in db.session.scalars(db.select(Task))}


def test_usage_equals_disk_after_upload_jobs_run_again_and_delete(app, client, logged_in, talk, run_worker):
    original, external = talk
    assert upload(client, original, external, silence=True).status_code == 303
    uploaded = assert_usage_matches_disk(app, logged_in.id)
    assert uploaded == original.stat().st_size + external.stat().st_size

    run_worker("media")
    assert all(status == Task.DONE for status, _ in statuses(app).values()), statuses(app)
    names = {p.name for p in files_on_disk(app, logged_in.id)}
    assert {"original.wav", "external.wav", "cut.wav", "cutlist.json"} <= names
    assert assert_usage_matches_disk(app, logged_in.id) > uploaded

    # Run again with sync: silence removal now works on the synced file, so cut.wav becomes cut.m4a.
    item = only_item(app)
    token = csrf_from(client.get(f"/videos/{item.id}/again"))
    response = client.post(
        f"/videos/{item.id}/again", data={"csrf_token": token, "sync": "y", "silence": "y", "margin": "0.1"}
    )
    assert response.status_code == 303
    run_worker("media")
    assert all(status == Task.DONE for status, _ in statuses(app).values()), statuses(app)
    names = {p.name for p in files_on_disk(app, logged_in.id)}
    assert "cut.m4a" in names and "cut.wav" not in names and "synced.m4a" in names
    assert_usage_matches_disk(app, logged_in.id)

    token = csrf_from(client.get(f"/videos/{item.id}"))
    assert client.post(f"/videos/{item.id}/delete", data={"csrf_token": token}).status_code == 303
    assert files_on_disk(app, logged_in.id) == []
    assert assert_usage_matches_disk(app, logged_in.id) == 0
    with app.app_context():
        assert not item_dir(item).exists()


# --- a nearly full disk ------------------------------------------------------------------------


def more_than_free(app) -> int:
    """A MIN_FREE_DISK the test filesystem cannot satisfy."""
    return shutil.disk_usage(app.config["MEDIA_ROOT"]).free + 1024**4


def test_upload_is_refused_with_507_when_the_disk_is_nearly_full(app, client, logged_in, talk):
    app.config["MIN_FREE_DISK"] = more_than_free(app)
    response = upload(client, talk[0], silence=True)
    assert response.status_code == 507
    page = response.get_data(as_text=True)
    assert "Not enough disk space" in page and "disk is nearly full" in page
    assert "Traceback" not in page
    assert list(Path(app.config["MEDIA_ROOT"]).rglob("*")) == []
    with app.app_context():
        assert db.session.scalar(db.select(Item)) is None


class FillingDisk(io.BytesIO):
    """A request body that, after `after` bytes, raises MIN_FREE_DISK past the free space: the
    disk filling up (with other uploads and jobs) while this upload streams in."""

    def __init__(self, app, body: bytes, after: int):
        super().__init__(body)
        self.app, self.after = app, after
        self.most_stored = 0  # the largest the partial upload file grew

    def readinto(self, buffer) -> int:  # how werkzeug reads a request body
        if self.tell() >= self.after:
            self.app.config["MIN_FREE_DISK"] = more_than_free(self.app)
        parts = Path(self.app.config["MEDIA_ROOT"]).rglob("*.part")
        self.most_stored = max(self.most_stored, sum(p.stat().st_size for p in parts))
        return super().readinto(buffer)


def test_upload_is_stopped_midway_when_the_disk_fills_up(app, client, logged_in):
    token = csrf_from(client.get("/videos/new"))
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    body += os.urandom(8 * MB) + f"\r\n--{boundary}--\r\n".encode()
    stream = FillingDisk(app, body, after=2 * MB)
    response = client.post(
        "/videos/new",
        input_stream=stream,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 507
    assert "disk is nearly full" in response.get_data(as_text=True)
    assert MB < stream.most_stored < 4 * MB, "stopped soon after the disk filled, not at the end"
    with app.app_context():
        assert list(Path(app.config["MEDIA_ROOT"]).rglob("*")) == [user_dir(logged_in.id)], (
            "nothing partial is left behind"
        )


def test_job_fails_with_the_reason_when_the_disk_is_nearly_full(
    app, app_env, client, logged_in, talk, run_worker
):
    assert upload(client, talk[0], silence=True).status_code == 303
    app_env["MIN_FREE_DISK"] = str(more_than_free(app))  # for the worker only
    run_worker("media")
    tasks = statuses(app)
    assert tasks["prepare"][0] == Task.FAILED
    assert tasks["prepare"][1].startswith("The server's disk is nearly full")
    assert tasks["silence"][0] == Task.FAILED  # it waits for nothing, so it tried too
    assert tasks["silence"][1].startswith("The server's disk is nearly full")
    item = only_item(app)
    assert "The server&#39;s disk is nearly full" in client.get(f"/videos/{item.id}").get_data(as_text=True)
    assert [p.name for p in files_on_disk(app, logged_in.id)] == ["original.wav"]  # no outputs started
    assert_usage_matches_disk(app, logged_in.id)


def test_the_room_a_job_needs_counts_the_sound_it_decodes_until_it_is_decoded(app, client, logged_in, talk):
    assert upload(client, talk[0], silence=True).status_code == 303
    with app.app_context():
        task = db.session.scalar(db.select(Task).where(Task.kind == "silence"))
        task.item.info = {**task.item.info, "duration": 3600.0}  # an hour: 230 MB of sound
        # Room for the job's outputs and 100 MB more, not for the sound as well.
        app.config["MIN_FREE_DISK"] = shutil.disk_usage(app.config["MEDIA_ROOT"]).free - (
            SMALL_OUTPUTS + KINDS["silence"].writes * task.item.working_file.size + 100 * 1024**2
        )

        with pytest.raises(MediaError, match="disk is nearly full"):
            check_room_for_task(task)
        sound(task.item).write_bytes(b"\0" * 64)  # a job before decoded it
        check_room_for_task(task)


# --- flask cleanup -----------------------------------------------------------------------------


def age(path: Path, hours: float) -> Path:
    """Make `path` and everything in it look untouched for `hours`."""
    then = time.time() - hours * 3600
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (then, then))
    return path


def put(path: Path, size: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def test_cleanup_removes_what_has_no_row_rows_without_files_and_stale_temp_files(
    app, client, logged_in, talk, run_worker
):
    root = Path(app.config["MEDIA_ROOT"])
    assert upload(client, talk[0], silence=True).status_code == 303
    run_worker("media")
    item = only_item(app)
    assert upload(client, talk[0], silence=True).status_code == 303  # its jobs stay queued: busy
    with app.app_context():
        busy = db.session.scalar(db.select(Item).where(Item.id != item.id))
        user, folder, busy_folder = user_dir(logged_in.id), item_dir(item), item_dir(busy)

    put(folder / ".work-1700000000000000000" / "piece.mp4", 5000)
    put(user / "0123456789ab" / "original.mp4", 7000)
    put(user / "ba9876543210" / ".upload-0.part", 11000)
    put(root / "999" / "abcdefabcdef" / "original.mp4", 13000)
    removed = [
        age(put(folder / "old-export.mp4", 3000), 8),  # no row
        age(folder / ".work-1700000000000000000", 8),  # a killed job's scratch
        age(user / "0123456789ab", 8),  # a deleted item's folder
        age(user / "ba9876543210", 8),  # an upload that died
        age(root / "999", 8),  # a deleted account's folder
    ]
    kept = [
        put(folder / ".work-1800000000000000000" / "piece.mp4"),  # a job writing right now
        put(user / "fedcba987654" / ".upload-0.part"),  # an upload arriving right now
        age(put(busy_folder / "stray.mp4"), 8),  # its item has a queued job
        age(put(root / "lost+found" / "x"), 8),  # not ours
        age(put(root / ".gitkeep", 0), 8),
    ]
    (folder / "cutlist.json").unlink()  # a row whose file is gone
    freed = 3000 + 5000 + 7000 + 11000 + 13000

    result = app.test_cli_runner().invoke(args=["cleanup", "--dry-run"])
    assert result.exit_code == 0, result.output
    for path in removed:
        assert path.exists()
        assert f"would remove  {path}  (" in result.output
    assert f"would remove  {folder / 'cutlist.json'}  (missing file, row of" in result.output
    assert (
        f"Would remove 5 files or folders, freeing {filesize(freed)}, and 1 row whose file was missing. "
        "Nothing was deleted (dry run)." in result.output
    )
    with app.app_context():
        assert db.session.scalar(db.select(MediaFile).filter_by(name="cutlist.json")) is not None

    result = app.test_cli_runner().invoke(args=["cleanup"])
    assert result.exit_code == 0, result.output
    assert f"Removed 5 files or folders, freeing {filesize(freed)}, and 1 row" in result.output
    assert "(stale temp, 4.9 KiB)" in result.output and "(deleted account, 12.7 KiB)" in result.output
    assert not any(p.exists() for p in removed)
    assert not (root / "999").exists() and not (user / "0123456789ab").exists()
    assert all(p.exists() for p in kept)
    with app.app_context():
        assert db.session.scalar(db.select(MediaFile).filter_by(name="cutlist.json")) is None
    assert client.get(f"/videos/{item.id}").status_code == 200

    (busy_folder / "stray.mp4").unlink()
    for path in kept[:2]:
        shutil.rmtree(path.parent)
    assert_usage_matches_disk(app, logged_in.id)
    result = app.test_cli_runner().invoke(args=["cleanup"])
    assert "Removed 0 files or folders, freeing 0 bytes." in result.output  # nothing left to do
