"""The whole user flow in a real browser (Playwright driving Debian's chromium) against gunicorn
and real RQ workers: sign up, confirm from the mail, log in, upload with all three jobs, watch
them run, open the item, play and seek, read the subtitles, download, delete.

Screenshots land in test-artifacts/ (git-ignored): they are how a person sees Cutroom.
"""

import re
import shutil
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT
from tests.media import derive_track, espeak_exe, speech_scene, write_track

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (make test installs it on Debian)"
    ),
    pytest.mark.skipif(espeak_exe() is None, reason="espeak-ng is needed to make test speech"),
]
ARTIFACTS = ROOT / "test-artifacts"
EMAIL, PASSWORD = "grace@example.com", "a long enough passphrase"


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("talk")
    scene = speech_scene(22, seed=11)
    camera = write_track(folder / "Team talk.mp4", derive_track(scene, 1.0, 20, snr_db=30), video=True)
    mic = write_track(
        folder / "mic.wav", derive_track(scene, 0.6, 21, gain_db=-3, sample_rate=44100), sample_rate=44100
    )
    return camera, mic


@pytest.fixture
def site(gunicorn_server, start):
    """gunicorn plus a media/mail worker and a transcription worker, as `make run` starts them."""
    start("worker.py", "media", "mail")
    start("worker.py", "transcribe")
    return f"http://{gunicorn_server}"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_overflow(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url}: content is {width} px wide on a {viewport} px screen"


def test_whole_flow_in_a_real_browser(site, browser, mailbox, talk, tmp_path):
    camera, mic = talk
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    # Sign up, then confirm from the mail the real SMTP server received.
    page.goto(f"{site}/signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    assert page.get_by_text("Check your inbox").is_visible()
    (message,) = mailbox.wait_for(1)
    link = re.search(r"https?://\S+/confirm/\S+", message.get_payload(decode=True).decode()).group(0)
    page.goto(site + urlsplit(link).path)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("No recordings yet").is_visible()

    # A file that is not media is refused, and the reason shows in the form, in place.
    page.get_by_role("link", name="Upload", exact=True).first.click()
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 100)
    page.get_by_label("Media file", exact=True).set_input_files(str(notes))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("not a video or audio").wait_for()
    assert page.url == f"{site}/videos/new"
    errors.clear()  # the browser logs the refusal's 415 as a console error, as it should

    # Upload with all three jobs; the parameters show only once a job is ticked.
    assert not page.get_by_label("Shortest pause to cut (seconds)").is_visible()
    page.get_by_label("Media file", exact=True).set_input_files(str(camera))
    page.get_by_label("External audio", exact=True).set_input_files(str(mic))
    page.get_by_label("Sync external audio").check()
    page.get_by_label("Remove silence").check()
    assert page.get_by_label("Shortest pause to cut (seconds)").is_visible()
    page.get_by_label("Transcribe").check()
    shot(page, "upload")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("Team talk.mp4").first.is_visible()

    # Watch the jobs: a progress bar moves, then every job is done and polling stops.
    seen, shot_taken = set(), False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        values = page.eval_on_selector_all("progress.task-progress", "bars => bars.map(b => b.value)")
        seen.update(round(v, 1) for v in values)
        if values and not shot_taken:
            shot(page, "library-running")
            shot_taken = True
        chips = page.eval_on_selector_all(".tasks .chip", "chips => chips.map(c => c.className)")
        if chips and all("done" in c for c in chips):
            break
        if any("failed" in c for c in chips):
            pytest.fail(page.inner_text("#library"))
        time.sleep(0.1)
    else:
        pytest.fail("the jobs did not finish: " + page.inner_text("#library"))
    assert any(0 < v < 100 for v in seen), f"no progress seen in between: {sorted(seen)}"
    assert shot_taken
    assert page.eval_on_selector("#library", "el => el.hasAttribute('hx-trigger')") is False

    # The item: players stream with Range, play, and carry the subtitles.
    ranges = []
    page.on("response", lambda r: "/files/" in r.url and ranges.append(r.status))
    page.get_by_role("link", name="Team talk.mp4").first.click()
    player = page.locator("#player-cut")
    player.wait_for()
    assert page.get_by_text("Silence removed").first.is_visible()
    assert page.get_by_text("Offset", exact=True).is_visible()
    page.wait_for_function("() => document.querySelector('#player-cut').readyState >= 1")
    cues = page.wait_for_function(
        "() => { const t = document.querySelector('#player-cut').textTracks[0];"
        " t.mode = 'showing'; return t.cues && t.cues.length; }"
    ).json_value()
    assert cues > 0
    page.evaluate(
        "() => { const v = document.querySelector('#player-cut'); v.muted = true; v.currentTime = 4; }"
    )
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime >= 4")
    page.evaluate("() => document.querySelector('#player-cut').play()")
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime > 4.5", timeout=15000)
    assert 206 in ranges, ranges
    # A transcript timestamp seeks the player.
    page.locator("#transcript .timestamp").last.click()
    page.wait_for_function("() => document.querySelector('#player-cut').currentTime > 1")
    shot(page, "item")

    # Downloads work.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Subtitles for the cut").first.click()
    saved = tmp_path / "cut.srt"
    download.value.save_as(saved)
    assert "-->" in saved.read_text()

    # Phone width: nothing overflows.
    phone = browser.new_page(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    for name, path in (("library", "/videos"), ("upload", "/videos/new"), ("item", urlsplit(page.url).path)):
        phone.goto(site + path)
        no_overflow(phone)
        shot(phone, f"phone-{name}")

    # Dark mode follows the system setting.
    dark = browser.new_page(color_scheme="dark", storage_state=page.context.storage_state())
    dark.goto(page.url)
    background = dark.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 21, 24)", background
    shot(dark, "item-dark")

    # Delete frees the space.
    page.goto(f"{site}/account")
    used_before = page.inner_text(".usage")
    page.go_back()
    page.get_by_text("Delete this recording").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.wait_for_url(f"{site}/videos")
    assert page.get_by_text("is deleted").is_visible()
    assert page.get_by_text("No recordings yet").is_visible()
    page.goto(f"{site}/account")
    assert "0 bytes of" in page.inner_text("main"), used_before
    assert not errors, errors


# --- proxy ---


def wait_for_jobs(page, timeout: float = 240) -> None:
    """Wait on the library until every job chip is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chips = page.eval_on_selector_all(".tasks .chip", "chips => chips.map(c => c.className)")
        if chips and all("done" in c for c in chips):
            return
        if any("failed" in c for c in chips):
            pytest.fail(page.inner_text("#library"))
        time.sleep(0.2)
    pytest.fail("the jobs did not finish: " + page.inner_text("#library"))


def plays(page, selector: str) -> dict:
    """Start the player (muted) and wait until it has decoded a frame; its state then."""
    page.evaluate(f"() => {{ const p = document.querySelector('{selector}'); p.muted = true; p.play(); }}")
    page.wait_for_function(f"() => document.querySelector('{selector}').currentTime > 0.5", timeout=20000)
    return page.eval_on_selector(
        selector, "p => ({ready: p.readyState, width: p.videoWidth || 0, error: p.error && p.error.code})"
    )


def test_hevc_and_alac_uploads_play_through_their_browser_previews(app, site, browser, tmp_path):
    from tests.conftest import PASSWORD as USER_PASSWORD
    from tests.conftest import make_user
    from tests.media import make_alac, make_hevc
    from webapp import db
    from webapp.models import Item
    from webapp.storage import item_dir

    hevc, alac = make_hevc(tmp_path / "Phone clip.mp4"), make_alac(tmp_path / "Voice memo.m4a")
    make_user(app, email="hedy@example.com")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/login")
    page.get_by_label("Email").fill("hedy@example.com")
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/videos")
    for path in (hevc, alac):
        page.goto(f"{site}/videos/new")
        page.get_by_label("Media file", exact=True).set_input_files(str(path))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_url(f"{site}/videos")
    wait_for_jobs(page)

    # The HEVC video plays, through its H.264 preview, at desktop and phone width.
    page.get_by_role("link", name="Phone clip.mp4").first.click()
    state = plays(page, "#player-original")
    assert state["ready"] >= 2 and state["width"] == 1280 and state["error"] is None, state
    assert page.locator(".player-problem").count() == 0
    shot(page, "item-hevc-preview")
    phone = browser.new_page(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    phone.goto(page.url)
    plays(phone, "#player-original")
    no_overflow(phone)
    shot(phone, "phone-item-hevc-preview")
    hevc_url = page.url

    # The ALAC recording plays through its AAC preview.
    page.goto(f"{site}/videos")
    page.get_by_role("link", name="Voice memo.m4a").first.click()
    state = plays(page, "#player-original")
    assert state["ready"] >= 2 and state["error"] is None, state

    # Without their previews (items prepared before there were any), the players say why they fail.
    def without_preview(url: str) -> None:
        with app.app_context():
            item = db.session.get(Item, url.rstrip("/").rsplit("/", 1)[-1])
            proxy = item.file("original_proxy")
            (item_dir(item) / proxy.name).unlink()
            item.files.remove(proxy)
            db.session.commit()
        page.goto(url)
        page.locator(".player-problem").wait_for()

    without_preview(page.url)
    assert page.eval_on_selector("#player-original", "p => p.error && p.error.code") == 4  # no ALAC here
    assert "cannot play this file's format. Download it to watch it." in page.inner_text(".player-problem")
    without_preview(hevc_url)
    state = page.eval_on_selector(
        "#player-original", "p => ({width: p.videoWidth || 0, error: p.error && p.error.code})"
    )
    assert state == {"width": 0, "error": None}, state  # the sound plays, the HEVC picture does not
    assert "only the sound of this file" in page.inner_text(".player-problem")
    shot(page, "item-hevc-no-preview")
    phone.goto(hevc_url)
    phone.locator(".player-problem").wait_for()
    no_overflow(phone)
    shot(phone, "phone-item-hevc-no-preview")
