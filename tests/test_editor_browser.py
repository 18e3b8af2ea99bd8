"""The editor in a real browser (Playwright driving Debian's chromium) against gunicorn and real
RQ workers: cut words of a real recording by selecting them, hear the preview jump over them,
undo, render, and find the rendered file as long as the edit and without the cut words; and the
editor on a 1-hour talk of 10,000 words, where a cut must show at once, and two tabs editing it.

Screenshots land in test-artifacts/ (git-ignored), as in tests/test_browser.py.
"""

import json
import re
import subprocess
import time

import pytest

from tests.helpers import ROOT, make_user
from tests.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    EMAIL,
    PASSWORD,
    browser,
    log_in,
    no_overflow,
    on_phone,
    shot,
    site,
    wait_for_jobs,
)
from tests.test_pipeline_jobs import duration_of

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it on Debian)"
)
EXAMPLE = ROOT / "tests/media/example.mp4"
# Words of example.mp4 that are said once: the two cut for good, and the one cut then undone.
CUT_WORDS = ("purpose", "including")
UNDONE_WORD = "convenience"
LONG_TALK = 3600.0
LONG_TALK_WORDS = 10_000

# Everything the page's edit holds that a test reads, from the editor's own state.
EDITOR_STATE = """() => {
  const e = window.cutroomEditor;
  return {version: e.version, keep: e.keep, saving: !!e.saving, dirty: e.dirty,
          cut: [...document.querySelectorAll('.word.cut')].map(w => Number(w.dataset.i))};
}"""
# Samples the preview's current time on every frame for `ms` milliseconds while it plays.
SAMPLE_PLAYBACK = """async ms => {
  const media = document.querySelector('#preview'), times = [];
  const end = performance.now() + ms;
  await new Promise(done => {
    const sample = () => {
      times.push(media.currentTime);
      performance.now() < end ? requestAnimationFrame(sample) : done();
    };
    requestAnimationFrame(sample);
  });
  media.pause();
  return times;
}"""


def editor_state(page) -> dict:
    return page.evaluate(EDITOR_STATE)


def wait_saved(page) -> dict:
    page.wait_for_function(
        "() => window.cutroomEditor && !window.cutroomEditor.saving && !window.cutroomEditor.dirty"
    )
    return editor_state(page)


def word_index(words: list[dict], text: str) -> int:
    """The index of the one word of `words` that reads `text` (punctuation aside)."""
    found = [w["id"] for w in words if re.sub(r"\W", "", w["text"]).lower() == text]
    assert len(found) == 1, (text, [w["text"] for w in words])
    return found[0]


def edit_json(page) -> dict:
    return page.evaluate("url => fetch(url).then(r => r.json())", page.url + ".json")


def spoken_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_cut_words_in_the_editor_preview_them_undo_and_render(app, site, browser, tmp_path):  # noqa: F811
    from jobs.transcribe import transcribe
    from webapp import db
    from webapp.models import Item
    from webapp.storage import item_dir

    make_user(app, email=EMAIL, password=PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    log_in(page, site)

    # Upload a real recording with Transcribe and Remove silence, and wait for the jobs.
    page.goto(f"{site}/videos/new")
    page.get_by_label("Media file", exact=True).set_input_files(str(EXAMPLE))
    page.get_by_label("Remove silence").check()
    page.get_by_label("Transcribe").check()
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    wait_for_jobs(page, timeout=300)
    page.get_by_role("link", name="example.mp4").first.click()
    item_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # The editor, from the item page: every word of the transcript, the automatic cut in place.
    page.get_by_role("link", name="Edit by transcript").click()
    page.locator(".word").first.wait_for()
    edit = edit_json(page)
    words = edit["words"]
    assert page.locator(".word").count() == len(words) > 20
    first, second = (word_index(words, text) for text in CUT_WORDS)
    assert second == first + 1
    undone = word_index(words, UNDONE_WORD)
    start = editor_state(page)

    # Drag across two words and press Delete: both are cut, struck through, and saved.
    word = page.locator(".word")
    word.nth(first).hover()
    page.mouse.down()
    word.nth(second).hover()
    page.mouse.up()
    page.keyboard.press("Delete")
    state = wait_saved(page)
    assert set(state["cut"]) - set(start["cut"]) == {first, second}
    assert state["version"] == start["version"] + 1
    assert page.get_by_role("option", name=f"{words[first]['text']}, cut").is_visible()
    # A third word, by click and shift-click on itself, then undone: back as it was.
    word.nth(undone).click()
    word.nth(undone).click(modifiers=["Shift"])
    page.keyboard.press("Delete")
    assert undone in wait_saved(page)["cut"]
    shot(page, "editor")
    page.keyboard.press("Control+z")
    state = wait_saved(page)
    assert set(state["cut"]) - set(start["cut"]) == {first, second}
    assert page.locator(".word.cut").count() == len(state["cut"])

    # The preview jumps over the cut words while it plays: no frame shows a time inside them.
    saved = edit_json(page)
    assert saved["keep"] == state["keep"] and saved["version"] == state["version"]
    gap_start, gap_end = words[first]["span"][0], words[second]["span"][1]
    before = max(a for a, b in saved["keep"] if a < gap_start)  # the kept part that leads into the cut
    lead_in = max(before, gap_start - 1.5)
    page.evaluate(
        "t => { const m = document.querySelector('#preview'); m.muted = true; m.currentTime = t; }", lead_in
    )
    page.wait_for_function(
        "t => Math.abs(document.querySelector('#preview').currentTime - t) < 0.01", arg=lead_in
    )
    page.locator("[data-play]").click()
    times = page.evaluate(SAMPLE_PLAYBACK, 3500)
    # The sound went through Web Audio, which fades it out and in at each jump.
    assert page.evaluate("() => window.cutroomEditor.audio.state") == "running"
    # (A display frame or two late on a busy machine is not playing the cut.)
    inside = [t for t in times if gap_start + 0.1 < t < gap_end - 0.1]
    assert not inside, f"played inside the cut {gap_start}–{gap_end}: {inside}"
    assert any(t < gap_start for t in times) and any(t > gap_end for t in times), times
    shot(page, "editor-played")

    phone = on_phone(browser, page)
    phone.locator(".word").first.wait_for()
    no_overflow(phone)
    shot(phone, "phone-editor")
    phone.close()

    # Render the edit, and wait for the render box to say it is done.
    page.get_by_role("button", name="Render", exact=True).click()
    page.get_by_text(f"Rendered version {state['version']}").wait_for(timeout=240_000)
    with app.app_context():
        item = db.session.get(Item, item_id)
        folder = item_dir(item)
        cut_file = folder / item.file("cut").name
        cut_text = (folder / item.file("cut_txt").name).read_text()
        cut_words = json.loads((folder / item.file("cut_json").name).read_text())
    frame = saved["frame"]
    length = duration_of(cut_file)
    print(f"rendered {length:.3f} s, edit keeps {saved['kept_duration']:.3f} s (a frame is {frame:.3f} s)")
    assert abs(length - saved["kept_duration"]) <= frame + 1e-3

    # The rendered cut's transcript, fitted and heard again, has neither cut word; the undone one is back.
    fitted = spoken_words(cut_text) | spoken_words(
        " ".join(w["word"] for s in cut_words["segments"] for w in s.get("words") or [])
    )
    transcribe(cut_file, tmp_path / "heard")
    heard = spoken_words((tmp_path / "heard" / "transcript.txt").read_text())
    print("heard in the render:", (tmp_path / "heard" / "transcript.txt").read_text())
    for name, found in (("heard", heard), ("fitted", fitted)):
        assert not found & set(CUT_WORDS), f"the {name} transcript of the render has cut words: {found}"
        assert UNDONE_WORD in found, f"the {name} transcript of the render lost a word: {found}"
    assert not errors, errors


# --- A 1-hour talk of 10,000 words ---


@pytest.fixture(scope="module")
def long_talk(tmp_path_factory):
    """A 1-hour recording (a quiet tone, at a low bitrate) and a transcript of 10,000 words over it."""
    from jobs.ffmpeg import ffmpeg_exe

    folder = tmp_path_factory.mktemp("long")
    sound = folder / "talk.m4a"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=220:sample_rate=8000:duration={LONG_TALK}",
            "-af",
            "volume=0.05",
            "-ac",
            "1",
            "-c:a",
            "aac",
            "-b:a",
            "16k",
            str(sound),
        ],
        check=True,
    )
    step = LONG_TALK / LONG_TALK_WORDS
    segments = []
    for first in range(0, LONG_TALK_WORDS, 25):  # a segment of 25 words, a pause after every fourth
        words = [
            {"word": f" word{n}", "start": round(n * step, 3), "end": round(n * step + step * 0.7, 3)}
            for n in range(first, first + 25)
        ]
        segments.append({"start": words[0]["start"], "end": words[-1]["end"], "text": "", "words": words})
    transcript = {"language": "en", "duration": LONG_TALK, "segments": segments}
    return sound, transcript


def long_item(app, user_id, long_talk) -> str:
    """An item of the long talk, as preparation and transcription leave it."""
    import shutil

    from tests.test_edit import prepared_item
    from webapp import db
    from webapp.models import Item, MediaFile
    from webapp.storage import item_dir

    sound, transcript = long_talk
    item_id = prepared_item(app, user_id, seconds=LONG_TALK, transcript=transcript)
    with app.app_context():
        item = db.session.get(Item, item_id)
        item.kind, item.title = "audio", "Long talk.m4a"
        item.info = {"duration": LONG_TALK, "video": None, "audio": {"codec": "aac"}}
        original = item.file("original")
        item.files.remove(original)
        (item_dir(item) / original.name).unlink()
        shutil.copy(sound, item_dir(item) / "original.m4a")
        item.files.append(MediaFile(role="original", name="original.m4a", size=sound.stat().st_size))
        db.session.commit()
    return item_id


# Times, in the page, from the Delete key's event to the cut words' classes and the preview's
# ranges changed (the handler), and to the next frame drawn with them.
MEASURE_DELETE = """() => {
  const e = window.cutroomEditor, before = e.keep;
  window.deleteLatency = null;
  document.addEventListener('keydown', event => {
    const handled = performance.now();
    const changed = e.keep !== before && document.querySelectorAll('.word.cut').length > 0;
    requestAnimationFrame(() => setTimeout(() => { window.deleteLatency = {
      handler: handled - event.timeStamp, frame: performance.now() - event.timeStamp, changed}; }, 0));
  }, {once: true});
}"""


def test_a_cut_in_a_one_hour_talk_shows_at_once(app, gunicorn_server, browser, long_talk):  # noqa: F811
    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = long_item(app, user.id, long_talk)
    figures = {}
    for width, height, prefix in ((1280, 900, ""), (390, 844, "phone-")):
        page = browser.new_page(viewport={"width": width, "height": height})
        log_in(page, address)
        opened = time.monotonic()
        page.goto(f"{address}/videos/{item_id}/edit")
        page.wait_for_function(f"() => document.querySelectorAll('.word').length === {LONG_TALK_WORDS}")
        print(
            f"{prefix or 'desktop '}editor with {LONG_TALK_WORDS} words ready:",
            f"{time.monotonic() - opened:.2f} s",
        )
        middle = LONG_TALK_WORDS // 2 + (0 if prefix else 100)
        page.locator(f"#word-{middle}").scroll_into_view_if_needed()
        page.locator(f"#word-{middle}").click()
        page.locator(f"#word-{middle + 2}").click(modifiers=["Shift"])
        page.evaluate(MEASURE_DELETE)
        page.keyboard.press("Delete")
        figures[prefix or "desktop"] = result = page.wait_for_function(
            "() => window.deleteLatency"
        ).json_value()
        print(
            f"{prefix or 'desktop '}Delete to words and preview updated: {result['handler']:.1f} ms,"
            f" to the next frame drawn: {result['frame']:.1f} ms"
        )
        assert result["changed"]
        state = wait_saved(page)
        assert {middle, middle + 1, middle + 2} <= set(state["cut"])
        no_overflow(page)
        shot(page, f"{prefix}editor-10000-words")
        page.close()
    print("latency figures:", figures)


def test_a_change_from_another_tab_is_loaded_not_overwritten(app, gunicorn_server, browser, long_talk):  # noqa: F811
    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = long_item(app, user.id, long_talk)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    first, second = context.new_page(), context.new_page()
    log_in(first, address)
    for page in (first, second):
        page.goto(f"{address}/videos/{item_id}/edit")
        page.locator("#word-10").wait_for()

    # The second tab cuts a word and saves; the first, still at the old version, cuts another.
    second.locator("#word-10").click()
    second.keyboard.press("Delete")
    assert wait_saved(second)["cut"] == [10]
    first.locator("#word-20").click()
    first.keyboard.press("Delete")
    problem = first.locator("[data-problem]")
    problem.wait_for()
    assert "changed in another tab" in problem.inner_text()
    # The first tab now shows the second tab's edit, and its own change was not saved over it.
    state = wait_saved(first)
    assert state["cut"] == [10] and state["version"] == wait_saved(second)["version"]
    assert edit_json(first)["keep"] == state["keep"]
    shot(first, "editor-conflict")
    context.close()


def test_the_editor_works_from_the_keyboard_and_by_tapping(app, gunicorn_server, browser, long_talk):  # noqa: F811
    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = long_item(app, user.id, long_talk)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, address)
    page.goto(f"{address}/videos/{item_id}/edit")
    page.locator("#word-10").wait_for()
    start = wait_saved(page)

    # Tab to the words, move with the arrows, extend with Shift, cut with Backspace.
    page.locator("[data-words]").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert page.locator("[aria-selected=true]").all_inner_texts() == ["word3", "word4", "word5"]
    assert page.locator("[data-words]").get_attribute("aria-activedescendant") == "word-5"
    page.keyboard.press("Backspace")
    assert wait_saved(page)["cut"] == [3, 4, 5]
    shot(page, "editor-keyboard")
    # Undo and redo, from the keys and the buttons.
    page.keyboard.press("Control+z")
    assert wait_saved(page)["cut"] == []
    page.keyboard.press("Control+Shift+z")
    assert wait_saved(page)["cut"] == [3, 4, 5]
    page.get_by_role("button", name="Undo").click()
    assert wait_saved(page)["cut"] == []
    page.get_by_role("button", name="Redo").click()
    cut = wait_saved(page)
    assert cut["cut"] == [3, 4, 5] and cut["version"] == start["version"] + 5

    # The removed part is listed: its end moves a frame later, then it is restored.
    row = page.locator("[data-removed-list] li").first
    (removed_start, removed_end) = (float(row.get_attribute(f"data-{edge}")) for edge in ("start", "end"))
    row.get_by_role("button", name="End one frame later").click()
    keep = wait_saved(page)["keep"]
    assert [a for a, b in keep if a > removed_start][0] == pytest.approx(removed_end + 0.01)
    page.locator("[data-removed-list] li").first.get_by_role("button", name="Restore").click()
    assert wait_saved(page)["cut"] == [] and wait_saved(page)["keep"] == [[0.0, LONG_TALK]]

    # Space plays and pauses, but types a space in a text field.
    page.locator("[data-words]").focus()
    page.keyboard.press("Space")
    page.wait_for_function("() => !document.querySelector('#preview').paused")
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('#preview').paused")
    page.locator("summary", has_text="Filler words").click()
    page.get_by_label("Filler words and phrases").press("End")
    page.keyboard.press("Space")
    assert page.evaluate("() => document.querySelector('#preview').paused")

    # While it plays, the words box follows the word being said.
    page.evaluate(
        "t => { const m = document.querySelector('#preview'); m.muted = true; m.currentTime = t; m.play(); }",
        500 * LONG_TALK / LONG_TALK_WORDS + 0.05,
    )
    page.wait_for_function("() => document.querySelector('#word-500').classList.contains('current')")
    page.evaluate("() => document.querySelector('#preview').pause()")
    shown = page.evaluate(
        """() => { const box = document.querySelector('[data-words]').getBoundingClientRect();
        const word = document.querySelector('#word-500').getBoundingClientRect();
        return word.top >= box.top && word.bottom <= box.bottom; }"""
    )
    assert shown

    # Reset to automatic cut: a new version, loaded in the page.
    page.locator("#word-3").click()
    page.keyboard.press("Delete")
    assert wait_saved(page)["cut"] == [3]
    page.get_by_text("Reset to automatic cut…").click()
    page.get_by_role("button", name="Reset to automatic cut").click()
    page.get_by_text("The edit is back to the automatic cut.").wait_for()
    assert wait_saved(page)["cut"] == [] and page.locator(".word.cut").count() == 0
    page.close()

    # On a phone: a tap selects a word (and moves the preview to it), a second tap cuts it, a third keeps it.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = phone.new_page()
    log_in(page, address)
    page.goto(f"{address}/videos/{item_id}/edit")
    word = page.locator("#word-7")
    word.tap()
    assert word.get_attribute("aria-selected") == "true"
    word.tap()
    assert wait_saved(page)["cut"] == [7]
    assert page.get_by_role("option", name="word7, cut").is_visible()
    no_overflow(page)
    shot(page, "phone-editor-tapped")
    word.tap()
    assert wait_saved(page)["cut"] == []
    phone.close()


def removed_parts(keep: list[list[float]]) -> list[list[float]]:
    """The stretches between kept ranges."""
    return [[end, start] for (_, end), (start, _) in zip(keep, keep[1:], strict=False)]


def with_suggestions(route, suggestions: list[dict]) -> None:
    """edit.json as the server sends it, with `suggestions` in place of what the engine found."""
    response = route.fetch()
    edit = response.json()
    route.fulfill(response=response, json={**edit, "suggestions": suggestions})


def test_suggestions_are_accepted_shortened_and_rejected(app, gunicorn_server, browser, long_talk):  # noqa: F811
    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = long_item(app, user.id, long_talk)
    step = LONG_TALK / LONG_TALK_WORDS
    pauses = [
        {
            "id": f"pause-{t}",
            "kind": "pause",
            "start": t,
            "end": t + 1.2,
            "text": "",
            "cut": [t + 0.1, t + 1.1],
        }
        for t in (20.0, 40.0)
    ]
    filler = {
        "id": "filler-1",
        "kind": "filler",
        "start": 30 * step,
        "end": 30 * step + 0.25,
        "text": "um",
        "cut": [30 * step - 0.05, 30 * step + 0.3],
        "words": [30],
    }
    retake = {
        "id": "retake-1",
        "kind": "retake",
        "start": 50 * step,
        "end": 52 * step + 0.25,
        "text": "word50 word51 word52",
        "cut": [50 * step - 0.05, 52 * step + 0.3],
        "words": [50, 51, 52],
    }
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route(
        "**/edit.json",
        lambda route: (
            with_suggestions(route, [*pauses, filler, retake])
            if route.request.method == "GET"
            else route.fallback()
        ),
    )
    log_in(page, address)
    page.goto(f"{address}/videos/{item_id}/edit")
    suggestions = page.locator("[data-suggestions]")
    suggestions.get_by_role("heading", name="Pauses (2)").wait_for()

    # A pause shortened to 0.5 s: all but a quarter second either side of it is cut.
    page.get_by_label("Seconds of each pause to keep").fill("0.5")
    suggestions.get_by_role("button", name="Accept the pause at 0:20.0").click()
    keep = wait_saved(page)["keep"]
    assert removed_parts(keep) == [[20.25, 20.95]]
    assert (
        suggestions.get_by_role("button", name="Accept the pause at 0:20.0").get_attribute("aria-pressed")
        == "true"
    )
    # Accepted again: undone. Then every pause at once, cut whole.
    suggestions.get_by_role("button", name="Accept the pause at 0:20.0").click()
    assert wait_saved(page)["keep"] == [[0.0, LONG_TALK]]
    page.get_by_label("Cut it").check()
    suggestions.locator("[data-kind=pause]").get_by_role("button", name="Accept all").click()
    keep = wait_saved(page)["keep"]
    assert removed_parts(keep) == [[20.1, 21.1], [40.1, 41.1]]
    # Cut with margins (as silence removal cuts), a pause is not yet shortened to 0.3 s: it is
    # not shown as accepted, and accepting all shortens them to that.
    page.get_by_label("Shorten it to").check()
    page.get_by_label("Seconds of each pause to keep").fill("0.3")
    accept = suggestions.get_by_role("button", name="Accept the pause at 0:40.0")
    assert accept.get_attribute("aria-pressed") == "false" and accept.inner_text() == "Accept"
    suggestions.locator("[data-kind=pause]").get_by_role("button", name="Accept all").click()
    keep = wait_saved(page)["keep"]
    assert removed_parts(keep) == [[20.15, 21.05], [40.15, 41.05]]
    assert accept.get_attribute("aria-pressed") == "true" and accept.inner_text() == "Accepted ✓"

    # The filler accepted, the retake rejected: the filler's word is cut, the retake's are not.
    suggestions.get_by_role("button", name="Accept the filler at 0:10.8").click()
    suggestions.get_by_role("button", name="Reject the retake at 0:18.0").click()
    cut = wait_saved(page)["cut"]
    assert 30 in cut and not {50, 51, 52} & set(cut)
    retake_row = page.locator("[data-suggestion=retake-1]")
    assert "rejected" in retake_row.get_attribute("class")
    assert page.locator("[data-kind=retake]").get_by_role("button", name="Accept all").is_visible()
    shot(page, "editor-suggestions")
    # A rejection is remembered in this browser.
    page.reload()
    suggestions.get_by_role("heading", name="Pauses (2)").wait_for()
    assert "rejected" in page.locator("[data-suggestion=retake-1]").get_attribute("class")
    assert page.locator("[data-suggestion=filler-1]").get_attribute("class") == "suggestion accepted"


def test_without_a_transcript_the_editor_says_how_to_get_one(app, gunicorn_server, browser):  # noqa: F811
    from tests.test_edit import prepared_item

    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = prepared_item(app, user.id, seconds=10.0)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, address)
    page.goto(f"{address}/videos/{item_id}/edit")
    page.get_by_text("Version 1").wait_for()
    assert page.get_by_role("link", name="transcribe the recording").is_visible()
    assert page.locator(".word").count() == 0 and page.get_by_role("button", name="Undo").is_disabled()
    assert page.inner_text("[data-kept]") == "Keeps 0:10.0 of 0:10.0 · the automatic cut"
    no_overflow(page)
    shot(page, "phone-editor-no-transcript")
    assert not errors, errors


def test_the_pages_range_arithmetic_is_the_engines(app, gunicorn_server, browser):  # noqa: F811
    """editor.js cuts, restores, shortens and normalizes as jobs/edit.py does, on random edits."""
    import random

    from jobs import edit
    from tests.test_edit import prepared_item

    address = f"http://{gunicorn_server}"
    user = make_user(app, email=EMAIL, password=PASSWORD)
    item_id = prepared_item(app, user.id, seconds=10.0)
    page = browser.new_page()
    log_in(page, address)
    page.goto(f"{address}/videos/{item_id}/edit")
    page.get_by_text("Version 1").wait_for()
    rng = random.Random(13)

    def ranges(count):
        return [sorted(round(rng.uniform(-1, 11), 3) for _ in range(2)) for _ in range(count)]

    for _ in range(200):
        duration, frame = 10.0, rng.choice([None, 0.04, 1 / 30, 0.01])
        keep = edit.merge([(max(0, a), min(duration, b)) for a, b in ranges(4) if b > a])
        spans = [(a, b) for a, b in ranges(3) if b > a]
        pause = tuple(sorted(round(rng.uniform(0, 3), 3) for _ in range(2)))
        expected = {
            "cut": edit.cut(keep, spans),
            "restore": edit.restore(keep, spans, duration),
            "removed": edit.removed(keep, duration),
            "shorten": edit.shorten(pause, 0.3),
        }
        times = [round(rng.uniform(0, duration), 2) for _ in range(5)] + [a for a, _ in keep]
        kept = page.evaluate("([keep, times]) => times.map(t => Ranges.isKept(keep, t))", [keep, times])
        assert kept == [edit.is_kept(keep, t) for t in times], (keep, times)
        try:
            expected["normalize"] = edit.normalize(spans, duration, frame)
        except edit.EditError:
            expected["normalize"] = []
        found = page.evaluate(
            """([keep, spans, duration, frame, pause]) => ({
                cut: Ranges.cut(keep, spans), restore: Ranges.restore(keep, spans, duration),
                removed: Ranges.removed(keep, duration), shorten: Ranges.shorten(pause, 0.3),
                normalize: Ranges.normalize(spans, duration, frame)})""",
            [keep, spans, duration, frame, pause],
        )
        for name, value in expected.items():
            value = (
                None if value is None else [list(r) for r in value] if name != "shorten" else [list(value)]
            )
            got = found[name] if name != "shorten" or found[name] is None else [found[name]]
            assert flat(got) == pytest.approx(flat(value), abs=1e-6), (name, keep, spans, frame, got, value)


def flat(pairs: list[list[float]] | None) -> list[float] | None:
    return None if pairs is None else [x for pair in pairs for x in pair]
