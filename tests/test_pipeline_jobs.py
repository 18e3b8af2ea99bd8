"""All three jobs through real workers: sync, then silence removal and transcription side by side,
then the subtitles fitted to the cut. Failures cancel what waits for them, with the reason."""

import json
import re
import time
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from tests.helpers import OFFSET, csrf_from
from tests.media import espeak_exe, speech_scene, write_track
from webapp import db
from webapp.models import Item, Task, used_bytes
from webapp.pipeline import redis_conn
from webapp.storage import item_dir

pytestmark = pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech")


def submit(client, media: Path, external: Path | None = None, **jobs):
    token = csrf_from(client.get("/videos/new"))
    data = {"csrf_token": token, **{name: "y" for name, on in jobs.items() if on}}
    with open(media, "rb") as m:
        data["media"] = (m, media.name)
        if external:
            data["external"] = (open(external, "rb"), external.name)  # noqa: SIM115 - closed by the client
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303, response.get_data(as_text=True)


def duration_of(path: Path) -> float:
    from jobs.probe import probe

    return probe(path).duration


def test_sync_silence_and_transcription_run_in_order_on_real_workers(
    app, client, logged_in, recording, run_worker
):
    camera, external = recording
    submit(client, camera, external, sync=True, silence=True, transcribe=True)
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        kinds = [t.kind for t in item.tasks]
        assert kinds == ["prepare", "sync", "silence", "transcribe", "suggest", "fit_subtitles"]
        jobs = {t.kind: Job.fetch(t.rq_job_id, connection=redis_conn()) for t in item.tasks}
        # Only what waits for nothing may start; the rest is held back by depends_on.
        assert jobs["sync"].get_status() == JobStatus.QUEUED
        assert jobs["silence"].get_status() == JobStatus.DEFERRED
        assert jobs["transcribe"].get_status() == JobStatus.DEFERRED
    page = client.get("/videos").get_data(as_text=True)
    assert "waiting for Sync external audio" in page

    run_worker("media")  # preparation, sync, silence removal
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        states = {t.kind: t.status for t in item.tasks}
        assert states["silence"] == Task.DONE and states["transcribe"] == Task.QUEUED
        assert states["fit_subtitles"] == Task.QUEUED
    run_worker("transcribe")
    run_worker("media")  # the subtitles, once both are done

    with app.app_context():
        item = db.session.scalar(db.select(Item))
        tasks = {t.kind: t for t in item.tasks}
        assert all(t.status == Task.DONE for t in tasks.values()), {
            k: (t.status, t.error) for k, t in tasks.items()
        }
        folder = item_dir(item)

        sync = tasks["sync"].result
        assert abs(sync["offset_seconds"] - OFFSET) < 0.001, sync
        synced = folder / item.file("synced").name
        assert abs(duration_of(synced) - duration_of(camera)) < 0.05

        silence = tasks["silence"].result
        assert silence["removed_seconds"] > 3, silence
        cut = folder / item.file("cut").name
        assert abs(duration_of(cut) - silence["kept_duration"]) < 0.1  # stream-exact checks: test_silence
        assert json.loads((folder / "cutlist.json").read_text())["keep"] == silence["cutlist"]["keep"]

        transcript = json.loads((folder / item.file("transcript_json").name).read_text())
        text = " ".join(s["text"] for s in transcript["segments"]).lower()
        words = (
            "meeting",
            "figures",
            "river",
            "bridge",
            "camera",
            "boxes",
            "lunch",
            "schedule",
            "bakery",
            "tram",
            "battery",
            "screen",
        )
        assert sum(w in text for w in words) >= 4, text

        cut_vtt = (folder / item.file("cut_vtt").name).read_text()
        assert cut_vtt.startswith("WEBVTT")
        ends = [
            float(h) * 3600 + float(m) * 60 + float(s)
            for h, m, s in re.findall(r"--> (\d+):(\d+):([\d.]+)", cut_vtt)
        ]
        assert ends and max(ends) <= silence["kept_duration"] + 0.05
        original_ends = [s["end"] for s in transcript["segments"]]
        assert max(original_ends) > max(ends)  # the timings moved with the cut

        for task in tasks.values():
            assert task.run_seconds is not None and task.wait_seconds is not None and task.wait_seconds >= 0
            assert task.realtime_factor and task.realtime_factor > 0
        assert used_bytes(item.user_id) == sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        item_id = item.id

    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert f"{OFFSET * 1000:+.1f} ms" in page
    assert sync["match"].startswith("strong match (") and sync["match"] in page
    assert f"{sync['checked_windows']} of {sync['checked_windows']} agree" in page
    assert "Silence removed" in page and 'class="removed"' in page
    assert 'kind="subtitles"' in page and "cut.vtt" in page
    assert "data-seek=" in page


def test_a_failed_sync_cancels_what_waits_for_it_with_the_reason(
    app, client, logged_in, recording, tmp_path, run_worker
):
    camera, _ = recording
    other = write_track(
        tmp_path / "other.wav", speech_scene(20, seed=99, sentences=("Completely different words here.",))
    )
    submit(client, camera, other, sync=True, silence=True, transcribe=True)
    run_worker("media", "transcribe")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        tasks = {t.kind: t for t in item.tasks}
        assert tasks["prepare"].status == Task.DONE
        assert tasks["sync"].status == Task.FAILED
        assert "confidence" in tasks["sync"].error
        for kind in ("silence", "transcribe", "suggest", "fit_subtitles"):
            assert tasks[kind].status == Task.CANCELLED, kind
            assert tasks[kind].error == "Not run, because “Sync external audio” failed."
            assert (
                Job.fetch(tasks[kind].rq_job_id, connection=redis_conn()).get_status() == JobStatus.CANCELED
            )
        assert item.file("synced") is None
    page = client.get("/videos").get_data(as_text=True)
    assert "Not run, because “Sync external audio” failed." in page


def test_bad_inputs_fail_with_a_clear_reason(app, client, logged_in, tmp_path, run_worker):
    from tests.media import make_video

    silent_film = make_video(tmp_path / "film.mp4", seconds=3, audio=False)
    submit(client, silent_film, silence=True, transcribe=True)
    short = make_video(tmp_path / "blink.mp4", seconds=0.2)
    submit(client, short, silence=True)
    run_worker("media", "transcribe")
    with app.app_context():
        film, blink = db.session.scalars(db.select(Item).order_by(Item.created_at)).all()
        reasons = {t.kind: t.error for t in film.tasks if t.status == Task.FAILED}
        assert "sound" in reasons["silence"] and "sound" in reasons["transcribe"]
        (failed,) = [t for t in blink.tasks if t.kind == "silence"]
        assert failed.status == Task.FAILED and "short" in failed.error


def test_one_transcription_worker_loads_the_model_once_for_many_jobs(
    app, client, logged_in, recording, run_worker
):
    camera, _ = recording
    submit(client, camera, transcribe=True)
    submit(client, camera, transcribe=True)
    out = run_worker("transcribe")
    assert out.count("Loading Whisper model") == 1, out
    with app.app_context():
        assert all(
            t.status == Task.DONE for t in db.session.scalars(db.select(Task).filter_by(kind="transcribe"))
        )


def test_run_again_reuses_the_upload(app, client, logged_in, recording, run_worker):
    camera, _ = recording
    submit(client, camera)
    run_worker("media")
    with app.app_context():
        item_id = db.session.scalar(db.select(Item)).id
    token = csrf_from(client.get(f"/videos/{item_id}/again"))
    response = client.post(
        f"/videos/{item_id}/again", data={"csrf_token": token, "silence": "y", "margin": "0.3"}
    )
    assert response.status_code == 303
    run_worker("media")
    with app.app_context():
        item = db.session.get(Item, item_id)
        (silence,) = [t for t in item.tasks if t.kind == "silence"]
        assert silence.status == Task.DONE and silence.params["margin"] == 0.3
        assert (
            item.file("cut") is not None and len(item.files) == 5
        )  # original, poster, waveform, cut, cut list


def test_deleting_an_item_stops_its_running_transcription(app, client, logged_in, tmp_path, start):
    long_talk = write_track(tmp_path / "long.wav", speech_scene(150, seed=5), sample_rate=48000)
    submit(client, long_talk, transcribe=True)
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        item_id, folder = item.id, item_dir(item)
        job = Job.fetch(
            next(t for t in item.tasks if t.kind == "transcribe").rq_job_id, connection=redis_conn()
        )
    worker = start("worker.py", "transcribe")
    deadline = time.monotonic() + 60
    while job.get_meta(refresh=True).get("progress", {}).get("percent", 0) < 10:
        assert time.monotonic() < deadline, "transcription did not start"
        time.sleep(0.05)
    token = csrf_from(client.get(f"/videos/{item_id}"))
    assert client.post(f"/videos/{item_id}/delete", data={"csrf_token": token}).status_code == 303
    while job.get_status(refresh=True) == JobStatus.STARTED:
        assert time.monotonic() < deadline + 30, "the job kept running after its item was deleted"
        time.sleep(0.1)
    assert job.get_meta(refresh=True)["progress"]["percent"] < 90  # stopped early, not finished
    assert not folder.exists()
    assert worker.poll() is None  # the worker lives on for the next job


# --- syncfill ---


def test_sync_then_silence_on_a_real_pair_keeps_every_word_and_draws_the_synced_sound(
    app, client, logged_in, run_worker
):
    """timbl_2 starts 12.254 s into timbl_1: the camera's sound fills those 12 s, silence is found
    in that synced sound, and the page's waveform and shading show that same sound."""
    from jobs.silence import detect_silence
    from tests.helpers import ROOT
    from tests.test_sync_coverage import uncut

    camera, external = ROOT / "tests/media/timbl_1.mp3", ROOT / "tests/media/timbl_2.mp3"
    submit(client, camera, external, sync=True, silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        tasks = {t.kind: t for t in item.tasks}
        assert all(t.status == Task.DONE for t in tasks.values()), {k: t.error for k, t in tasks.items()}
        alone = detect_silence(camera)
        cut = tasks["silence"].result
        assert uncut(alone.keep, cut["cutlist"]["keep"]) == []
        assert cut["kept_duration"] >= alone.kept_duration - 0.05
        ((fill_start, fill_end),) = tasks["sync"].result["camera_fill"]
        assert fill_start == 0 and abs(fill_end - 12.254) < 0.001
        waveform = item.file("synced_waveform")
        assert waveform is not None and (item_dir(item) / waveform.name).stat().st_size > 0
        item_id = item.id

    page = client.get(f"/videos/{item_id}").get_data(as_text=True)
    assert re.search(r"Camera sound used</dt><dd>0:00–0:12</dd>", page), page
    # The before/after listen plays where the external sound is, not the camera's fill.
    assert page.count("#t=12.25,22.25") == 2 and "After: external sound from 0:12" in page
    silence_card = page[page.index('id="silence"') : page.index('id="sync"')]
    assert f"/videos/{item_id}/files/synced_waveform.png" in silence_card
    assert "files/waveform.png" not in silence_card


REAL = Path(__file__).parent / "media"


def run_again_page(client, item_id) -> str:
    return client.get(f"/videos/{item_id}/again").get_data(as_text=True)


def test_run_again_starts_from_the_previous_choices_and_adds_an_external_audio_to_sync(
    app, client, logged_in, run_worker
):
    # A real interview, uploaded alone with silence removal at its own settings.
    token = csrf_from(client.get("/videos/new"))
    with open(REAL / "timbl_1.mp3", "rb") as f:
        data = {"csrf_token": token, "silence": "y", "min_silence": "0.7", "margin": "0.3", "media": f}
        response = client.post("/videos/new", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303
    run_worker("media")
    with app.app_context():
        item_id = db.session.scalar(db.select(Item)).id

    # The form starts from what ran: silence removal ticked with its settings, the others not.
    page = run_again_page(client, item_id)
    assert re.search(r'<input checked id="silence"', page), page
    assert 'name="min_silence" step="0.05" type="number" value="0.70"' in page
    assert 'name="margin" step="0.05" type="number" value="0.30"' in page
    assert not re.search(r'<input checked id="(sync|transcribe)"', page)

    # Sync needs an External audio, which this item has none of yet.
    token = csrf_from(client.get(f"/videos/{item_id}/again"))
    data = {"csrf_token": token, "sync": "y"}
    response = client.post(f"/videos/{item_id}/again", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "To sync, add the External audio file as well." in response.get_data(as_text=True)

    # Added on the run-again form, it is stored with the item and synced: the real offset.
    with open(REAL / "timbl_2.mp3", "rb") as f:
        data = {"csrf_token": token, "sync": "y", "external": (f, "radio.mp3")}
        response = client.post(f"/videos/{item_id}/again", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303, response.get_data(as_text=True)
    run_worker("media")
    with app.app_context():
        item = db.session.get(Item, item_id)
        (sync,) = [t for t in item.tasks if t.kind == "sync"]
        assert sync.status == Task.DONE, sync.error
        assert abs(sync.result["offset_seconds"] - 12.254) < 0.005, sync.result
        stored = item.file("external")
        assert stored.name == "external.mp3" and stored.size == (REAL / "timbl_2.mp3").stat().st_size
        folder = item_dir(item)
        assert used_bytes(item.user_id) == sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    # And the next run again starts with sync ticked too.
    page = run_again_page(client, item_id)
    assert re.search(r'<input checked id="sync"', page) and re.search(r'<input checked id="silence"', page)


def test_run_again_replaces_the_external_audio(app, client, logged_in, recording, tmp_path, run_worker):
    camera, external = recording
    other = write_track(
        tmp_path / "other.wav", speech_scene(20, seed=99, sentences=("Completely different words here.",))
    )
    submit(client, camera, other)  # the wrong microphone file
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        item_id, folder = item.id, item_dir(item)
    token = csrf_from(client.get(f"/videos/{item_id}/again"))
    with open(external, "rb") as f:
        data = {"csrf_token": token, "sync": "y", "external": (f, "mic.wav")}
        response = client.post(f"/videos/{item_id}/again", data=data, content_type="multipart/form-data")
    response.request.input_stream.close()
    assert response.status_code == 303, response.get_data(as_text=True)
    assert (folder / "external.wav").read_bytes() == external.read_bytes()
    run_worker("media")
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert [f.name for f in item.files if f.role == "external"] == ["external.wav"]
        (sync,) = [t for t in item.tasks if t.kind == "sync"]
        assert sync.status == Task.DONE and abs(sync.result["offset_seconds"] - OFFSET) < 0.001
        assert used_bytes(item.user_id) == sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
