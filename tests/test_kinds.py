"""One module per job kind (webapp/kinds/): the task graph, the labels and forms made from the
specs, a kind asked for on the item page, and a task whose kind is unknown."""

import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from rq import Callback

from tests.helpers import Auth, csrf_from, make_user
from tests.media import make_video
from tests.test_pipeline_jobs import submit
from webapp import db
from webapp.kinds import KINDS, file_label, plan
from webapp.kinds.export import STALE
from webapp.models import Item, Task
from webapp.pipeline import get_queue, submitting
from webapp.queues import QUEUES
from webapp.storage import item_dir
from webapp.videos.routes import BUSY

EXAMPLE = Path(__file__).parent / "media" / "example.mp4"


def graph(steps: list[dict]) -> dict[str, list[str]]:
    return {step["kind"]: step["after"] for step in steps}


def test_the_plan_runs_each_chosen_kind_after_the_chosen_ones_it_needs():
    assert graph(plan({"silence": {}})) == {"prepare": [], "silence": []}
    assert graph(plan({"sync": {}, "silence": {}, "transcribe": {}})) == {
        "prepare": [],
        "sync": [],
        "silence": ["sync"],
        "transcribe": ["sync"],
        "suggest": ["sync", "transcribe"],
        "fit_subtitles": ["silence", "transcribe"],
    }
    # Run again: the file is prepared already; of the kinds nobody chooses, only what the choice needs.
    assert graph(plan({"transcribe": {"vad": True}}, prepared=True)) == {
        "transcribe": [],
        "suggest": ["transcribe"],
    }
    assert plan({"silence": {"margin": 0.3}}, prepared=True)[0]["params"] == {"margin": 0.3}


def test_every_output_has_a_label_and_belongs_to_one_kind_but_the_edits_render():
    roles = [role for kind in KINDS.values() for role in kind.outputs]
    # The cut and its subtitles: silence removal renders its automatic cut, the editor the edit.
    shared = {role for role in roles if roles.count(role) > 1}
    assert shared == set(KINDS["render"].outputs)
    assert all(file_label(role) != role for role in [*roles, "original", "external"])
    assert {kind.queue for kind in KINDS.values()} <= set(QUEUES)


def test_the_upload_form_offers_the_kinds_chosen_on_upload_in_pipeline_order(app, client, logged_in):
    page = client.get("/videos/new").get_data(as_text=True)
    boxes = [page.index(f'name="{kind}"') for kind in ("sync", "silence", "transcribe")]
    assert boxes == sorted(boxes)
    assert 'name="editor"' not in page  # the export is asked for on the item page
    # A field's hint comes from its spec's description.
    assert "Sound kept before and after speech. Default 0.2 s." in page


def test_a_task_of_an_unknown_kind_fails_with_a_reason_instead_of_staying_running(
    app, client, logged_in, tmp_path, run_worker
):
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2))
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        task = Task(item=item, kind="vanished", queue="media", params={})
        db.session.add(task)
        db.session.flush()
        task.rq_job_id = f"cutroom-{item.id}-{task.id}"
        db.session.commit()
        # As pipeline.submit enqueues every task, which cannot make one of a kind it does not know.
        failed = Callback("webapp.tasks.run.on_task_failure")
        get_queue("media").enqueue(
            "webapp.tasks.run.run_task", task.id, job_id=task.rq_job_id, on_failure=failed
        )
    run_worker("media")
    with app.app_context():
        task = db.session.scalar(db.select(Task).filter_by(kind="vanished"))
        assert task.status == Task.FAILED
        assert task.error == "Something went wrong on our side. The operator can see the details."


def ask(client, item_id: str, kind: str, **fields):
    token = csrf_from(client.get(f"/videos/{item_id}"))
    return client.post(f"/videos/{item_id}/run/{kind}", data={"csrf_token": token, **fields})


def test_a_kind_asked_for_on_the_item_page_is_refused_until_its_inputs_are_there(
    app, client, logged_in, tmp_path, run_worker
):
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2))
    with app.app_context():
        item_id = db.session.scalar(db.select(Item)).id
    # Not prepared yet: no export card, and asking anyway says to wait.
    assert 'id="export"' not in client.get(f"/videos/{item_id}").get_data(as_text=True)
    refused = ask(client, item_id, "export", editor="premiere")
    assert refused.status_code == 409 and BUSY in refused.get_data(as_text=True)
    run_worker("media")
    # Prepared, the recording is an edit that cuts nothing: it can be exported.
    assert 'id="export"' in client.get(f"/videos/{item_id}").get_data(as_text=True)
    with app.app_context():
        db.session.get(Item, item_id).file("original").role = "gone"
        db.session.commit()
    refused = ask(client, item_id, "export", editor="premiere")
    assert refused.status_code == 409
    assert "needs what this item does not have yet: Original" in refused.get_data(as_text=True)
    # Only kinds asked for on the item page run this way; a made-up editor is a form error.
    assert ask(client, item_id, "silence").status_code == 404
    assert ask(client, item_id, "nothing-like-it").status_code == 404
    assert ask(client, item_id, "export", editor="notepad").status_code == 400
    no_token = client.post(f"/videos/{item_id}/run/export", data={"editor": "premiere"})
    assert no_token.status_code == 400
    with app.app_context():
        assert [t.kind for t in db.session.get(Item, item_id).tasks] == ["prepare"]


def test_someone_elses_item_cannot_be_exported(app, client, auth, tmp_path, run_worker):
    make_user(app, "owner@example.com")
    make_user(app, "other@example.com")
    auth.login("owner@example.com")
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2), silence=True)
    with app.app_context():
        item_id = db.session.scalar(db.select(Item)).id
    other = Auth(app, app.test_client())
    other.login("other@example.com")
    token = other.csrf("/videos")
    response = other.client.post(
        f"/videos/{item_id}/run/export", data={"csrf_token": token, "editor": "premiere"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("kind", ["prepare", "fit_subtitles"])
def test_kinds_nobody_chooses_have_no_form(kind):
    assert KINDS[kind].choice is None


def test_an_export_asked_for_on_the_item_page_is_a_timeline_an_editor_reads(
    app, client, logged_in, run_worker, tmp_path
):
    """The export kind, end to end: a real recording's cut, exported for Premiere Pro on the item
    page, read back by OpenTimelineIO's FCP 7 XML adapter: a clip per kept range, on the stored file."""
    otio = pytest.importorskip("opentimelineio")
    submit(client, EXAMPLE, silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        item_id, kept = item.id, item.result("silence")["cutlist"]["keep"]
        original = item.file("original").name
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert 'id="export"' in page and "Premiere Pro" in page

    response = ask(client, item_id, "export", editor="premiere")
    assert response.status_code == 303
    run_worker("media")
    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert "Timeline for Premiere Pro" in page
    download = client.get(f"/videos/{item_id}/files/timeline.xml?download=1")
    assert download.status_code == 200 and b"<xmeml" in download.get_data()
    download.close()
    with app.app_context():
        folder = item_dir(db.session.get(Item, item_id))
    timeline = otio.adapters.read_from_file(str(folder / "timeline.xml"))
    clips = list(next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video).find_clips())
    assert len(clips) == len(kept) > 1
    frame = 1 / 30
    for clip, (start, end) in zip(clips, kept, strict=True):
        source = clip.source_range
        assert abs(source.start_time.to_seconds() - start) <= frame
        assert abs(source.end_time_exclusive().to_seconds() - end) <= frame
        # The timeline names the recording beside it, so the two open together wherever they go.
        assert unquote(clip.media_reference.target_url) == original

    # The zip: the timeline with the recording it names beside it, unpacked anywhere.
    response = client.get(f"/videos/{item_id}/exports/xmeml.zip")
    assert response.status_code == 200 and response.is_streamed
    assert "example - Premiere Pro.zip" in response.headers["Content-Disposition"]
    (tmp_path / "talk.zip").write_bytes(response.get_data())
    response.close()
    with zipfile.ZipFile(tmp_path / "talk.zip") as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["example/original.mp4", "example/timeline.xml"]
        archive.extractall(tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked" / "example"
    assert (unpacked / original).read_bytes() == (folder / original).read_bytes()
    timeline = otio.adapters.read_from_file(str(unpacked / "timeline.xml"))
    reference = next(iter(timeline.find_clips())).media_reference.target_url
    assert (unpacked / unquote(reference)).is_file()

    # Transcribed afterwards: the timeline has no subtitles, so it is out of date and not sent.
    token = csrf_from(client.get(f"/videos/{item_id}/again"))
    again = client.post(f"/videos/{item_id}/again", data={"csrf_token": token, "transcribe": "y"})
    assert again.status_code == 303
    run_worker("transcribe")
    stale = client.get(f"/videos/{item_id}/exports/xmeml.zip")
    assert stale.status_code == 409 and STALE in stale.get_data(as_text=True)
    assert "out of date" in client.get(f"/videos/{item_id}").get_data(as_text=True)
    # Exported again, it carries them; and a title that is no folder name on Windows is made one.
    token = csrf_from(client.get(f"/videos/{item_id}"))
    renamed = client.post(
        f"/videos/{item_id}/rename", data={"csrf_token": token, "title": "Q&A: v2.5 <final>?"}
    )
    assert renamed.status_code == 303
    assert ask(client, item_id, "export", editor="premiere").status_code == 303
    run_worker("media")
    response = client.get(f"/videos/{item_id}/exports/xmeml.zip")
    (tmp_path / "again.zip").write_bytes(response.get_data())
    response.close()
    with zipfile.ZipFile(tmp_path / "again.zip") as archive:
        names = sorted(archive.namelist())
    assert names == [
        "Q&A- v2.5 -final--/original.mp4",
        "Q&A- v2.5 -final--/timeline.srt",
        "Q&A- v2.5 -final--/timeline.xml",
    ]


def test_a_second_request_while_one_is_queueing_jobs_is_refused(app, client, logged_in, run_worker, tmp_path):
    """Two requests that both find the item idle must not both queue: the second waits its turn
    (the lock webapp.pipeline.submitting holds while one checks and queues)."""
    submit(client, make_video(tmp_path / "clip.mp4", seconds=2), silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        item_id = item.id
        with submitting(item) as idle:
            assert idle
            refused = ask(client, item_id, "export", editor="otio")
        assert refused.status_code == 409
        assert "Wait until the running jobs have finished" in refused.get_data(as_text=True)
        assert ask(client, item_id, "export", editor="otio").status_code == 303
        db.session.expire_all()
        assert [t.kind for t in db.session.get(Item, item_id).tasks].count("export") == 1
