"""Quota: uploads at once never pass it together, a job whose results would not fit is refused
before it starts, and "Run again" and the upload page refuse while the space is full."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import csrf_from, wait_for_port
from tests.media import make_audio
from tests.test_disk import PATTERN, assert_usage_matches_disk, files_on_disk, only_item, statuses, upload
from tests.test_transactions import app_env  # noqa: F401 - runs each test on SQLite and PostgreSQL
from tests.test_uploads import Browser, set_quota
from webapp import db
from webapp.localredis import free_port
from webapp.models import Reservation, Task, used_bytes

MB = 1024 * 1024
UPLOADS = 8


def test_uploads_at_once_never_pass_the_quota_together(app, logged_in, start, tmp_path):
    set_quota(app, logged_in.email, 8 * MB)
    recording = make_audio(tmp_path / "talk.wav", seconds=27, sample_rate=48000)  # 2.5 MB
    port = free_port()
    start("-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w", "2", "wsgi:app")
    wait_for_port(port)
    browsers = [Browser(f"127.0.0.1:{port}") for _ in range(UPLOADS)]
    for browser in browsers:
        browser.login()
    ready = threading.Barrier(UPLOADS)

    def send(i: int) -> tuple[int, str]:
        head, tail, headers = browsers[i].upload_parts(recording)
        if i % 2:  # half of them stream without a declared length: chunked, checked as bytes arrive
            del headers["Content-Length"]

        def body():
            yield head
            with open(recording, "rb") as f:
                while chunk := f.read(256 * 1024):
                    yield chunk
            yield tail

        ready.wait()
        return browsers[i].request("POST", "/videos/new", body(), headers)

    with ThreadPoolExecutor(UPLOADS) as pool:
        results = list(pool.map(send, range(UPLOADS)))
    statuses = sorted(status for status, _ in results)
    stored = statuses.count(303)
    assert stored >= 1 and statuses == [303] * stored + [413] * (UPLOADS - stored), statuses
    for status, page in results:
        if status == 413:
            assert "This upload does not fit in your space" in page, page
    with app.app_context():
        assert used_bytes(logged_in.id) == stored * recording.stat().st_size <= 8 * MB
        assert db.session.scalar(db.select(db.func.count()).select_from(Reservation)) == 0
    assert len(files_on_disk(app, logged_in.id)) == stored  # the refused ones left nothing behind
    assert_usage_matches_disk(app, logged_in.id)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    from tests.media import make_talk

    return make_talk(tmp_path_factory.mktemp("talk") / "talk.wav", PATTERN, video=False)


def test_a_job_whose_results_would_not_fit_is_refused_before_it_starts(
    app, client, logged_in, talk, run_worker
):
    quota = talk.stat().st_size * 3 // 2  # room for the upload and its previews, not for a cut copy
    set_quota(app, logged_in.email, quota)
    assert upload(client, talk, silence=True).status_code == 303
    run_worker("media")
    tasks = statuses(app)
    assert tasks["prepare"] == (Task.DONE, None)
    assert tasks["silence"][0] == Task.FAILED
    assert tasks["silence"][1].startswith("This job was not started: its results would take about")
    assert "cut.wav" not in {p.name for p in files_on_disk(app, logged_in.id)}
    assert assert_usage_matches_disk(app, logged_in.id) <= quota


def test_jobs_do_not_start_while_the_space_is_full(app, client, logged_in, talk, run_worker):
    assert upload(client, talk, silence=True).status_code == 303
    with app.app_context():
        used = used_bytes(logged_in.id)
    set_quota(app, logged_in.email, used)  # e.g. another item's result landed meanwhile
    run_worker("media")
    for status, reason in statuses(app).values():
        assert status == Task.FAILED
        assert reason.startswith("Your space is full (") and "so this job was not started" in reason
    with app.app_context():
        assert used_bytes(logged_in.id) == used


def test_run_again_and_the_upload_page_refuse_while_the_space_is_full(
    app, client, logged_in, talk, run_worker
):
    assert upload(client, talk, silence=True).status_code == 303
    run_worker("media")
    item = only_item(app)
    token = csrf_from(client.get(f"/videos/{item.id}/again"))
    with app.app_context():
        used = used_bytes(logged_in.id)
    set_quota(app, logged_in.email, used - 1)  # an admin lowered it, or a result landed over it

    response = client.post(f"/videos/{item.id}/again", data={"csrf_token": token, "silence": "y"})
    assert response.status_code == 400
    assert "Your space is full" in response.get_data(as_text=True)
    assert statuses(app)["silence"][0] == Task.DONE  # nothing was queued
    page = client.get("/videos/new").get_data(as_text=True)
    assert "Your space is full" in page and "you cannot upload now" in page
    assert upload_refused(client, talk)


def upload_refused(client, path) -> bool:
    """An upload sent anyway (a page opened before the space filled) is refused and leaves nothing."""
    token = csrf_from(client.get("/account"))
    with open(path, "rb") as f:
        data = {"csrf_token": token, "media": (f, path.name)}
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    return response.status_code == 413 and "does not fit in your space" in response.get_data(as_text=True)
