"""Result reuse: the same input with the same job and settings is not processed twice."""

import dataclasses

import pytest
from rq import SimpleWorker

import jobs.ffmpeg
import jobs.transcribe
from tests.helpers import PASSWORD, Auth, csrf_from, make_user
from tests.media import espeak_exe
from tests.test_disk import assert_usage_matches_disk
from tests.test_pipeline_jobs import submit
from webapp import db
from webapp.kinds import KINDS
from webapp.models import Item, Task
from webapp.pipeline import get_queue, redis_conn
from webapp.queues import QUEUES, served
from webapp.storage import item_dir

pytestmark = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech")


class Processing:
    """Stands in for the engine: records each job that would have processed media, and fails it."""

    def __init__(self, monkeypatch):
        self.ran = []
        for name, kind in KINDS.items():
            monkeypatch.setitem(KINDS, name, dataclasses.replace(kind, runner=self.runner(name)))
        # Below the runners too: anything that reaches ffmpeg or Whisper counts as processing.
        monkeypatch.setattr(jobs.ffmpeg, "run_ffmpeg", self.runner("ffmpeg"))
        monkeypatch.setattr(jobs.transcribe, "load_model", self.runner("whisper"))

    def runner(self, kind):
        def run(*args, **kwargs):
            self.ran.append(kind)
            raise RuntimeError(f"{kind} ran")

        return run


def work_in_process(app) -> None:
    """A real RQ worker, in this process so the stand-in engine is the one it calls."""
    with app.app_context():
        queues = [get_queue(name) for name in served(list(QUEUES))]
        SimpleWorker(queues, connection=redis_conn()).work(burst=True)


def items(app) -> list[Item]:
    return db.session.scalars(db.select(Item).order_by(Item.created_at)).all()


def tasks_of(item: Item) -> dict[str, Task]:
    return {t.kind: t for t in item.current_tasks}


def test_the_same_file_with_the_same_settings_reuses_the_stored_result(
    app, client, logged_in, recording, run_worker, monkeypatch
):
    camera, _ = recording
    submit(client, camera, silence=True, transcribe=True)
    run_worker("media", "transcribe")
    with app.app_context():
        (first,) = items(app)
        done = tasks_of(first)
        assert {t.status for t in done.values()} == {Task.DONE}
        assert all(t.reused_from is None for t in done.values())
        first_files = {f.role: f.size for f in first.files}

    submit(client, camera, silence=True, transcribe=True)  # the same recording again
    engine = Processing(monkeypatch)
    work_in_process(app)
    assert engine.ran == []
    with app.app_context():
        first, second = items(app)
        again = tasks_of(second)
        assert {k: (t.status, t.error) for k, t in again.items()} == dict.fromkeys(again, (Task.DONE, None))
        assert {k: t.reused_from for k, t in again.items()} == {k: t.id for k, t in tasks_of(first).items()}
        assert again["silence"].result == tasks_of(first)["silence"].result
        assert {f.role: f.size for f in second.files} == first_files
        assert second.duration == first.duration and second.kind == "video"
        cut = item_dir(second) / second.file("cut").name
        assert cut.read_bytes() == (item_dir(first) / first.file("cut").name).read_bytes()
        first_id, second_id = first.id, second.id
    # Each item counts its own copy: deleting one must not take the other's space or files.
    assert assert_usage_matches_disk(app, logged_in.id) == 2 * sum(first_files.values())
    page = client.get(f"/videos/{second_id}").get_data(as_text=True)
    assert page.count(f'reused an earlier result of <a href="/videos/{first_id}">camera.mp4</a>') == 5

    # Deleting the first item leaves the second one whole.
    token = csrf_from(client.get(f"/videos/{first_id}"))
    assert client.post(f"/videos/{first_id}/delete", data={"csrf_token": token}).status_code == 303
    response = client.get(f"/videos/{second_id}/files/cut.mp4")
    response.close()
    assert response.status_code == 200
    page = client.get(f"/videos/{second_id}").get_data(as_text=True)
    assert page.count("reused an earlier result</span>") == 5  # no link to the deleted item


def test_other_settings_another_file_or_another_user_are_processed(
    app, client, logged_in, recording, run_worker, monkeypatch, tmp_path
):
    camera, external = recording
    submit(client, camera, silence=True)
    run_worker("media")
    with app.app_context():
        (item,) = items(app)
        item_id = item.id

    engine = Processing(monkeypatch)
    # Run again with the same settings: nothing to do; with another margin: silence removal runs.
    for margin, expected in (("0.2", []), ("0.35", ["silence"])):
        token = csrf_from(client.get(f"/videos/{item_id}/again"))
        data = {"csrf_token": token, "silence": "y", "margin": margin}
        assert client.post(f"/videos/{item_id}/again", data=data).status_code == 303
        engine.ran.clear()
        work_in_process(app)
        assert engine.ran == expected

    # A different file is processed, even with the same settings.
    from tests.media import make_video

    submit(client, make_video(tmp_path / "other.mp4", seconds=3), silence=True)
    engine.ran.clear()
    work_in_process(app)
    assert engine.ran == ["prepare", "silence"]

    # Another user's identical upload is theirs to process: results are reused only within a space.
    make_user(app, email="bo@example.com")
    other = app.test_client()
    assert Auth(app, other).login("bo@example.com", PASSWORD).status_code == 302
    submit(other, camera, silence=True)
    engine.ran.clear()
    work_in_process(app)
    assert engine.ran == ["prepare", "silence"]
