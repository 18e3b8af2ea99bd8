"""The edit as data: edit.json read and replaced with If-Match, conflicts between tabs, Reset, and
Render turning the current edit into a file (real worker, real ffmpeg)."""

import json

import pytest

from tests.helpers import Auth, csrf_from, make_user
from tests.media import espeak_exe, make_disfluent, make_talk, make_video
from tests.test_pipeline_jobs import duration_of, submit
from tests.test_suggest import PLANTED
from webapp import db, edits
from webapp.edits import CONFLICT
from webapp.models import Edit, Item, MediaFile, Task
from webapp.storage import item_dir

FPS = 25
FRAME = 1 / FPS


def prepared_item(app, user_id: int, seconds: float = 10.0, transcript: dict | None = None) -> str:
    """An item as preparation leaves it (its length and frame rate known), without running it."""
    with app.app_context():
        item = Item(user_id=user_id, title="talk.mp4", kind="video", duration=seconds)
        item.info = {"duration": seconds, "video": {"codec": "h264", "fps": FPS}, "audio": None}
        db.session.add(item)
        db.session.flush()
        folder = item_dir(item)
        folder.mkdir(parents=True)
        (folder / "original.mp4").write_bytes(b"\0" * 16)
        item.files.append(MediaFile(role="original", name="original.mp4", size=16))
        item.tasks.append(Task(kind="prepare", queue="media", status=Task.DONE, result={}))
        if transcript is not None:
            (folder / "transcript.json").write_text(json.dumps(transcript))
            item.files.append(MediaFile(role="transcript_json", name="transcript.json", size=1))
        db.session.commit()
        return item.id


def put(client, item_id: str, body, version, token: str | None):
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    if token is not None:
        headers["X-CSRFToken"] = token
    data = body if isinstance(body, str) else json.dumps(body)
    return client.put(f"/videos/{item_id}/edit.json", data=data, headers=headers)


@pytest.fixture
def owner(app, client, auth):
    user = make_user(app, "owner@example.com")
    auth.login("owner@example.com")
    return user


def token_of(client, item_id: str) -> str:
    page = client.get(f"/videos/{item_id}/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_the_edit_is_read_and_replaced_with_the_version_it_was_read_at(app, client, owner):
    item_id = prepared_item(app, owner.id)
    first = client.get(f"/videos/{item_id}/edit.json")
    assert first.status_code == 200 and first.headers["ETag"] == '"1"'
    assert first.json["version"] == 1 and first.json["keep"] == [[0.0, 10.0]]
    assert first.json["frame"] == pytest.approx(FRAME) and first.json["duration"] == 10.0
    token = token_of(client, item_id)

    # Ranges as a script may send them: unsorted, overlapping, off the frame grid, past the end.
    saved = put(client, item_id, {"keep": [[6.01, 12], [0, 2.03], [1.5, 3]]}, 1, token)
    assert saved.status_code == 200, saved.json
    assert saved.json["version"] == 2 and saved.headers["ETag"] == '"2"'
    assert saved.json["keep"] == [[0.0, 3.0], [6.0, 10.0]]
    assert saved.json["kept_duration"] == pytest.approx(7.0)

    # Another tab still at version 1: refused, told the current version, nothing overwritten.
    stale = put(client, item_id, {"keep": [[0, 1]]}, 1, token)
    assert stale.status_code == 409
    assert stale.json == {"error": CONFLICT, "version": 2}
    assert client.get(f"/videos/{item_id}/edit.json").json["keep"] == [[0.0, 3.0], [6.0, 10.0]]
    # Weak and bare forms of the version are the same version.
    assert put(client, item_id, {"keep": [[0, 4]]}, "W/2", token).status_code == 400
    response = client.put(
        f"/videos/{item_id}/edit.json",
        json={"keep": [[0, 4]]},
        headers={"If-Match": "2", "X-CSRFToken": token},
    )
    assert response.status_code == 200 and response.json["version"] == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "Send the edit as JSON"),
        ({"ranges": [[0, 1]]}, "Send the edit as JSON"),
        ({"keep": "all"}, "list of at most"),
        ({"keep": [[3, 1]]}, "must end after it starts"),
        ({"keep": [[0, "1"]]}, "pair of numbers"),
        ({"keep": [[0, 1, 2]]}, "pair [start, end]"),
        ({"keep": [[11, 12]]}, "would keep nothing"),
        ({"keep": []}, "would keep nothing"),
        ({"keep": [[0, 1]], "fade": 5}, "audio fade"),
        # Hostile numbers and nesting: a reason, never an error on the server's side.
        ('{"keep": [[1e308, Infinity]]}', "would keep nothing"),
        ('{"keep": [[1' + "0" * 400 + ", 1" + "0" * 401 + "]]}", "would keep nothing"),
        ('{"keep": ' + "[" * 100_000 + "]" * 100_000 + "}", "Send the edit as JSON"),
    ],
)
def test_an_edit_that_cannot_be_kept_is_refused_with_the_reason(app, client, owner, body, message):
    item_id = prepared_item(app, owner.id)
    token = token_of(client, item_id)
    response = put(client, item_id, body, 1, token)
    assert response.status_code == 400
    assert message in response.json["error"]
    assert client.get(f"/videos/{item_id}/edit.json").json["version"] == 1


def test_a_save_needs_the_version_the_token_and_the_owner(app, client, owner):
    item_id = prepared_item(app, owner.id)
    token = token_of(client, item_id)
    missing = put(client, item_id, {"keep": [[0, 1]]}, None, token)
    assert missing.status_code == 428 and "If-Match" in missing.json["error"]
    for version in ("²", "١", "1e3", "*"):  # digits to str.isdigit(), not to If-Match
        assert put(client, item_id, {"keep": [[0, 1]]}, version, token).status_code == 400
    no_token = put(client, item_id, {"keep": [[0, 1]]}, 1, None)
    assert no_token.status_code == 400 and "Reload the page" in no_token.json["error"]
    # Someone else: the item does not exist for them, to read or to write.
    make_user(app, "other@example.com")
    other = Auth(app, app.test_client())
    other.login("other@example.com")
    their_token = other.csrf("/videos")
    assert other.client.get(f"/videos/{item_id}/edit.json").status_code == 404
    assert other.client.get(f"/videos/{item_id}/edit").status_code == 404
    assert put(other.client, item_id, {"keep": [[0, 1]]}, 1, their_token).status_code == 404
    assert client.get(f"/videos/{item_id}/edit.json").json["version"] == 1


def test_a_script_that_is_not_logged_in_is_told_so_not_sent_to_a_form(app, client):
    response = client.get("/videos/abc123/edit.json")
    assert response.status_code == 401 and response.json == {"error": "Log in to Cutroom to see this."}
    assert client.get("/videos/abc123/edit").status_code == 302  # a page: to the login form


def test_an_item_still_being_prepared_has_no_edit_yet(app, client, owner):
    with app.app_context():
        item = Item(user_id=owner.id, title="arriving.mp4")
        db.session.add(item)
        db.session.commit()
        item_id = item.id
    response = client.get(f"/videos/{item_id}/edit.json")
    assert response.status_code == 409 and "still being prepared" in response.json["error"]
    assert "still being prepared" in client.get(f"/videos/{item_id}/edit").get_data(as_text=True)


def test_an_item_whose_original_was_removed_says_so(app, client, owner):
    item_id = prepared_item(app, owner.id)
    with app.app_context():
        db.session.execute(db.delete(MediaFile).where(MediaFile.item_id == item_id))  # as retention does
        db.session.commit()
    response = client.get(f"/videos/{item_id}/edit.json")
    assert response.status_code == 409 and "original recording was removed" in response.json["error"]
    assert "original recording was removed" in client.get(f"/videos/{item_id}/edit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("asked", "used"), [("0.5", 0.5), ("sNaN", 0.3), ("NaN", 0.3), ("inf", 0.3), ("9", 0.3), ("x", 0.3)]
)
def test_the_pause_length_asked_for_is_used_when_it_makes_sense(app, client, owner, asked, used):
    item_id = prepared_item(app, owner.id)
    response = client.get(f"/videos/{item_id}/edit.json?pause_length={asked}")
    assert response.status_code == 200 and response.json["pause_length"] == used


def test_an_edit_made_by_another_request_at_the_same_moment_is_taken(app, owner):
    """Two first reads at once (the page and edit.json, two gunicorn workers) both find no edit and
    make one: the second must take the first's, not fail on the unique item id."""
    item_id = prepared_item(app, owner.id)
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert item.edit is None  # this request looked, then the other one made it
        with db.engine.begin() as other:
            keep = json.dumps([[0.0, 4.0]])
            other.execute(
                db.insert(Edit).values(item_id=item_id, keep=keep, automatic=keep, duration=10.0, version=5)
            )
        assert edits.current(item).version == 5
        assert edits.save(item, [[0, 2]], 5).version == 6


def test_a_reset_that_loses_a_race_says_so(app, client, owner, monkeypatch):
    item_id = prepared_item(app, owner.id)
    token = csrf_from(client.get(f"/videos/{item_id}/edit"))

    def changed_meanwhile(item, keep, version, fade=None):
        raise edits.Conflict

    monkeypatch.setattr(edits, "save", changed_meanwhile)
    response = client.post(f"/videos/{item_id}/edit/reset", data={"csrf_token": token})
    assert response.status_code == 303
    assert "changed in another tab" in client.get(response.location).get_data(as_text=True)


TRANSCRIPT = {
    "segments": [
        {
            "start": 0.5,
            "end": 2.0,
            "text": " Hello there friends.",
            "words": [
                {"start": 0.5, "end": 0.9, "word": " Hello"},
                {"start": 1.0, "end": 1.4, "word": " there"},
                {"start": 1.5, "end": 2.0, "word": " friends."},
            ],
        },
        {
            "start": 5.0,
            "end": 5.6,
            "text": " Bye.",
            "words": [{"start": 5.0, "end": 5.6, "word": " Bye."}],
        },
    ]
}


def test_the_edit_lists_the_words_with_what_cutting_each_removes(app, client, owner):
    item_id = prepared_item(app, owner.id, transcript=TRANSCRIPT)
    data = client.get(f"/videos/{item_id}/edit.json").json
    words = data["words"]
    assert [w["text"] for w in words] == ["Hello", "there", "friends.", "Bye."]
    assert [w["id"] for w in words] == [0, 1, 2, 3]
    assert [w["para"] for w in words] == [True, False, False, True]
    # Each span holds its word and never reaches into its neighbours.
    for before, word, after in zip([None, *words], words, [*words[1:], None], strict=False):
        start, end = word["span"]
        assert start <= word["start"] and end >= word["end"]
        assert before is None or start >= before["end"]
        assert after is None or end <= after["start"]


def test_reset_returns_to_the_automatic_cut_as_a_new_version(app, client, owner):
    item_id = prepared_item(app, owner.id)
    token = token_of(client, item_id)
    assert put(client, item_id, {"keep": [[1, 2]]}, 1, token).status_code == 200
    form_token = csrf_from(client.get(f"/videos/{item_id}/edit"))
    response = client.post(f"/videos/{item_id}/edit/reset", data={"csrf_token": form_token})
    assert response.status_code == 303
    data = client.get(f"/videos/{item_id}/edit.json").json
    assert data["keep"] == [[0.0, 10.0]] == data["automatic"] and data["version"] == 3
    assert client.post(f"/videos/{item_id}/edit/reset").status_code == 400  # no CSRF token


def test_filler_phrases_are_the_accounts_own_list(app, client, owner):
    item_id = prepared_item(app, owner.id)
    token = csrf_from(client.get(f"/videos/{item_id}/edit"))
    phrases = "um\n  you   know \nUM\n\nbasically"
    response = client.post(f"/videos/{item_id}/edit/fillers", data={"csrf_token": token, "phrases": phrases})
    assert response.status_code == 303
    page = client.get(f"/videos/{item_id}/edit").get_data(as_text=True)
    assert "um\nyou know\nbasically</textarea>" in page
    hidden = "\u202eum\x00\nyou\u200b know"  # a bidi override, a NUL, a zero-width space
    client.post(f"/videos/{item_id}/edit/fillers", data={"csrf_token": token, "phrases": hidden})
    assert "<textarea" in (page := client.get(f"/videos/{item_id}/edit").get_data(as_text=True))
    assert "um\nyou know</textarea>" in page
    too_long = client.post(f"/videos/{item_id}/edit/fillers", data={"csrf_token": token, "phrases": "x" * 41})
    assert too_long.status_code == 400 and "at most 40 characters" in too_long.get_data(as_text=True)


def test_render_asked_by_htmx_leaves_no_message_for_a_later_page(app, client, owner):
    item_id = prepared_item(app, owner.id)
    token = csrf_from(client.get(f"/videos/{item_id}/edit"))
    for expected in (200, 409):  # queued, then refused while the first waits
        response = client.post(
            f"/videos/{item_id}/edit/render", data={"csrf_token": token}, headers={"HX-Request": "true"}
        )
        assert response.status_code == expected and "render-status" in response.get_data(as_text=True)
    later = client.get("/videos").get_data(as_text=True)
    assert "Rendering the edit." not in later and "Wait until" not in later


def kept_length_of(keep) -> float:
    return sum(b - a for a, b in keep)


def test_render_makes_the_current_edit_a_file_and_says_when_it_is_out_of_date(
    app, client, logged_in, run_worker, tmp_path
):
    """Silence removal's cut is the first edit; the person cuts two seconds more and renders: the
    file is as long as the edit keeps (within a frame), and a later change marks it out of date.
    An export made then is of the edit too."""
    otio = pytest.importorskip("opentimelineio")
    clip = make_video(tmp_path / "clip.mp4", seconds=6)
    submit(client, clip, silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        item_id = item.id
    data = client.get(f"/videos/{item_id}/edit.json").json
    assert data["render"]["status"] == "done" and not data["render"]["stale"]
    assert data["version"] == data["render"]["version"] == 2  # made, then silence removal's cut

    token = token_of(client, item_id)
    keep = [[0.0, 1.0], [3.0, 6.0]]
    assert put(client, item_id, {"keep": keep}, data["version"], token).status_code == 200
    status = client.get(f"/videos/{item_id}/edit/status").get_data(as_text=True)
    assert "The edit changed since" in status
    form_token = csrf_from(client.get(f"/videos/{item_id}/edit"))
    assert client.post(f"/videos/{item_id}/edit/render", data={"csrf_token": form_token}).status_code == 303
    assert "Render queued" in client.get(f"/videos/{item_id}/edit/status").get_data(as_text=True)
    run_worker("media")
    data = client.get(f"/videos/{item_id}/edit.json").json
    assert data["render"] == {**data["render"], "status": "done", "version": 3, "stale": False}
    with app.app_context():
        item = db.session.get(Item, item_id)
        folder = item_dir(item)
        cut = folder / item.file("cut").name
    assert abs(duration_of(cut) - kept_length_of(keep)) <= FRAME + 0.03  # audio may end a packet later
    assert "Rendered version 3" in client.get(f"/videos/{item_id}/edit/status").get_data(as_text=True)

    # The export takes the edit as it is when asked for.
    export_token = csrf_from(client.get(f"/videos/{item_id}"))
    response = client.post(
        f"/videos/{item_id}/run/export", data={"csrf_token": export_token, "editor": "edl"}
    )
    assert response.status_code == 303
    run_worker("media")
    timeline = otio.adapters.read_from_file(str(folder / "timeline.edl"))
    ranges = [c.source_range for c in timeline.find_clips() if c.parent().kind == "Video"]
    assert [
        (round(r.start_time.to_seconds(), 2), round(r.end_time_exclusive().to_seconds(), 2)) for r in ranges
    ] == [
        (0.0, 1.0),
        (3.0, 6.0),
    ]
    token = token_of(client, item_id)
    assert put(client, item_id, {"keep": [[0.0, 5.0]]}, 3, token).status_code == 200
    assert client.get(f"/videos/{item_id}/exports/edl.zip").status_code == 409


def test_silence_removal_lets_an_edge_take_a_little_more_pause_to_copy_a_whole_gop(
    app, client, logged_in, run_worker, tmp_path
):
    """A keyframe just inside a removed pause: the render's cut starts there (a GOP copied instead
    of encoded), never more than a margin (0.2 s) into the pause; the edit stays as detected."""
    # Speech 0-2, 4.25-9.7, 12.7-15.7 s; keyframes every second. Kept with the 0.2 s margin: from
    # 4.05 s (a keyframe at 4.0) to 9.9 s (a GOP ends at 10.0).
    pattern = [(2.0, True), (2.25, False), (5.45, True), (3.0, False), (3.0, True)]
    talk = make_talk(tmp_path / "talk.mp4", pattern, gop_seconds=1.0)
    submit(client, talk, silence=True)
    run_worker("media")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        cutlist = json.loads((item_dir(item) / item.file("cutlist").name).read_text())
    edit = client.get(f"/videos/{item.id}/edit.json").json["keep"]
    rendered = cutlist["keep"]
    assert len(rendered) == len(edit) == 3
    moved = 0
    for (start, stop), (asked_start, asked_stop) in zip(rendered, edit, strict=True):
        assert asked_start - 0.2 - FRAME <= start <= asked_start + FRAME / 2
        assert asked_stop - FRAME / 2 <= stop <= asked_stop + 0.2 + FRAME
        moved += (asked_start - start > FRAME / 2) + (stop - asked_stop > FRAME / 2)
    assert moved == 2
    assert rendered[1] == [4.0, 10.0]


def test_the_editor_suggests_the_fillers_and_the_retake_said_in_an_upload(
    app, client, logged_in, run_worker, tmp_path
):
    """Transcription brings the suggest job (a real worker listens again for hesitations); the
    editor's suggestions then cut each planted filler and the first take of the retake."""
    if espeak_exe() is None:
        pytest.skip("espeak-ng is not installed, so there is no way to generate test speech")
    talk = tmp_path / "talk.wav"
    planted = make_disfluent(talk, PLANTED, voice="en-us", speed=165, seed=1)
    submit(client, talk, transcribe=True)
    run_worker("media", "transcribe")
    with app.app_context():
        item = db.session.scalar(db.select(Item))
        assert {t.kind: t.status for t in item.tasks}["suggest"] == Task.DONE
        item_id = item.id
    suggestions = client.get(f"/videos/{item_id}/edit.json").json["suggestions"]
    for said in planted:
        kind = "filler" if said["kind"] == "filler" else "retake"
        assert any(
            s["kind"] == kind and s["cut"][0] < said["end"] and said["start"] < s["cut"][1]
            for s in suggestions
        ), (said, suggestions)
    assert any(s["kind"] == "pause" for s in suggestions)
